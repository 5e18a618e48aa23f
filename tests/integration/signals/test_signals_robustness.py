"""What a bad rule, a bad source, a bad inbound value or a bad file does to a pass: it is
reported and contained, never a stalled pipeline, a traceback or a wrong score."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import Signal, SignalCheckpoint, SignalEvent
from musktracker.db.session import session_scope
from musktracker.signals.dedup import DatabaseDedupStore, Deduplicator
from musktracker.signals.event import RawEvent
from musktracker.signals.filter import FilterConfig
from musktracker.signals.metrics import RULE_ERRORS, SOURCE_ERRORS
from musktracker.signals.pipeline import SignalPipeline
from musktracker.signals.rules import parse_rules
from musktracker.signals.runner import poll_once
from musktracker.utc import utcnow
from tests.integration.api.conftest import Api, build_api

RULES = """
- {name: burst, condition: "type == 'volume_burst'", score: 6, reason: burst}
- name: burst_vs_bound
  condition: "type == 'volume_burst' and volume_actual / volume_upper >= 3"
  score: 2
  reason: Three times the bound
- {name: shift, condition: "type == 'regime_shift'", score: 7, reason: shift}
- {name: liquid, condition: "dex_liquidity >= 50000", score: 5, reason: liquid}
"""


def pipeline(engine: Engine, rules: str = RULES) -> SignalPipeline:
    ruleset = parse_rules(rules)
    return SignalPipeline(
        engine,
        rules=lambda: ruleset,
        filter_config=FilterConfig.from_strings("en", "", ""),
        dedup=Deduplicator(DatabaseDedupStore()),
        thresholds={"webhook": 5.0},
    )


def event(source_id: str, type_: str = "volume_burst", **data: Any) -> RawEvent:
    return RawEvent(
        source="internal",
        source_id=source_id,
        type=type_,
        created_at=utcnow() - timedelta(hours=1),
        text=f"{type_} {source_id}",
        data=data,
    )


class ListSource:
    """Hands out its events once."""

    def __init__(self, name: str, events: list[RawEvent]) -> None:
        self.name = name
        self.events = events
        self.more = False

    def fetch(self, session: Session) -> list[RawEvent]:
        events, self.events = self.events, []
        return events

    def commit(self, session: Session) -> None:
        return None


class BrokenSource:
    name = "broken"
    more = False

    def fetch(self, session: Session) -> list[RawEvent]:
        raise RuntimeError("provider table is corrupt")

    def commit(self, session: Session) -> None:
        return None


def scores(engine: Engine) -> dict[str, float]:
    with session_scope(engine) as session:
        return {s.event_key: s.score for s in session.scalars(select(Signal))}


def test_rule_that_divides_by_zero_and_a_failing_source_do_not_stall_the_pass(
    engine: Engine,
) -> None:
    """A burst whose forecast bound is 0 makes `burst_vs_bound` divide by zero: that rule does
    not fire for it (counted), the event is still scored and stored; a source that raises is
    logged and counted, and the sources after it in the pass are still processed."""
    errors_before = RULE_ERRORS.labels(rule="burst_vs_bound")._value.get()
    broken_before = SOURCE_ERRORS.labels(source="broken")._value.get()
    bursts = ListSource(
        "bursts",
        [
            event("quiet-hour", volume_actual=9.0, volume_upper=0.0),
            event("busy-hour", volume_actual=9.0, volume_upper=3.0),
        ],
    )
    shifts = ListSource("shifts", [event("shift-1", "regime_shift")])
    result = poll_once(engine, pipeline(engine), [BrokenSource(), bursts, shifts])
    assert result.failed_sources == ["broken"]
    assert result.stored == 3
    assert scores(engine) == {
        "volume_burst:internal:quiet-hour": 6,  # burst only: the ratio rule could not tell
        "volume_burst:internal:busy-hour": 8,
        "regime_shift:internal:shift-1": 7,
    }
    assert RULE_ERRORS.labels(rule="burst_vs_bound")._value.get() == errors_before + 1
    assert SOURCE_ERRORS.labels(source="broken")._value.get() == broken_before + 1


def test_only_unique_key_conflicts_are_retried(engine: Engine) -> None:
    """A duplicate key is another writer's race: the batch runs once more. Any other
    integrity error (here NOT NULL) is a bug, raised at once instead of retried."""
    with session_scope(engine) as session:
        session.add(SignalCheckpoint(source="taken", position="1", updated_at=utcnow()))
    calls: list[str] = []

    def not_null(session: Session) -> None:
        calls.append("not_null")
        session.execute(
            insert(SignalCheckpoint).values(source="other", position=None, updated_at=utcnow())
        )

    def duplicate(session: Session) -> None:
        calls.append("duplicate")
        session.execute(
            insert(SignalCheckpoint).values(source="taken", position="2", updated_at=utcnow())
        )

    pipe = pipeline(engine)
    with pytest.raises(IntegrityError):
        pipe.process([event("a")], on_commit=not_null)
    assert calls == ["not_null"]
    with pytest.raises(IntegrityError):
        pipe.process([event("b")], on_commit=duplicate)
    assert calls == ["not_null", "duplicate", "duplicate"]
    assert scores(engine) == {}


# --- inbound `data` and times: validated like every other field --------------------------

GOOD = {
    "source": "partner",
    "source_id": "p1",
    "type": "external",
    "created_at": "2026-01-03T10:00:00Z",
    "text": "hello world this is fine",
}


@pytest.fixture
def ingest_env(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    from musktracker.db import migrate

    migrate.upgrade(cli_env)
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    monkeypatch.setenv("RULES_PATH", str(rules))
    monkeypatch.setenv("SIGNALS_ENRICH", "false")
    yield cli_env, tmp_path


def signal_events(url: str) -> int:
    from musktracker.db.session import get_engine

    with session_scope(get_engine(url)) as session:
        return int(session.scalar(select(func.count()).select_from(SignalEvent)) or 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": {"dex_liquidity": "lots"}},
         "field 'data.dex_liquidity' = 'lots': must be a number"),
        ({"data": {"type": "volume_burst", "volume_ratio": 5}},
         "field 'data.type' = 'volume_burst': 'type' is computed by the pipeline"),
        ({"data": {"evidence_count": 99}},
         "field 'data.evidence_count' = 99: 'evidence_count' is computed by the pipeline"),
        ({"data": {"has_dex": "yes"}}, "field 'data.has_dex' = 'yes': must be true or false"),
        ({"data": {"goplus_risk": "purple"}},
         "field 'data.goplus_risk' = 'purple': must be one of green, red, unknown, yellow"),
        ({"created_at": "0001-01-01T00:00:00Z"}, "created_at must be in the years 2006..2100"),
        ({"created_at": "9999-12-31T23:59:59Z"}, "created_at must be in the years 2006..2100"),
        ({"created_at": "2099-01-01T00:00:00Z"},
         "field 'created_at' = '2099-01-01T00:00:00Z': created_at is in the "
         "future (now is "),
        ({"data": {"x": [1]}},
         "field 'data.x' = [1]: must be a number, a string, true/false or null"),
        ({"data": {"dex_liquidity": {"usd": 1}}},
         "field 'data.dex_liquidity' = {'usd': 1}: must be a number"),
        ({"text": "word " * 5000},
         "field 'text' = 'word word word word word word word word word word word w... "
         "(25,000 characters): String should have at most 10000 characters"),
    ],
)  # fmt: skip
def test_ingest_rejects_bad_data_values_in_one_line(
    ingest_env: tuple[str, Path], runner: CliRunner, changes: dict[str, Any], message: str
) -> None:
    url, tmp = ingest_env
    path = tmp / "events.jsonl"
    path.write_text(json.dumps({**GOOD, **changes}) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: line 1: ") and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert len(result.output) < 300  # a 25,000-character text is not echoed whole
    assert signal_events(url) == 0


def test_ingest_allows_five_minutes_of_clock_skew(
    ingest_env: tuple[str, Path], runner: CliRunner
) -> None:
    url, tmp = ingest_env
    path = tmp / "events.jsonl"
    soon = (utcnow() + timedelta(minutes=4)).isoformat()
    path.write_text(json.dumps({**GOOD, "created_at": soon}) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert signal_events(url) == 1


def test_ingest_rejects_nan_data_value(ingest_env: tuple[str, Path], runner: CliRunner) -> None:
    url, tmp = ingest_env
    path = tmp / "events.jsonl"
    path.write_text(json.dumps({**GOOD, "data": {"volume_ratio": float("nan")}}) + "\n")
    assert "NaN" in path.read_text()
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 1
    assert "field 'data.volume_ratio' = nan: must be a finite number" in result.output
    assert signal_events(url) == 0


def test_data_may_still_carry_provider_features_and_extra_keys(
    ingest_env: tuple[str, Path], runner: CliRunner
) -> None:
    url, tmp = ingest_env
    path = tmp / "events.jsonl"
    line = {**GOOD, "data": {"dex_liquidity": 60000, "note": "partner says hi", "n": None}}
    path.write_text(json.dumps(line) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 event read: 1 stored")  # not "1 events"
    assert result.output.rstrip().endswith("dropped 0")
    again = runner.invoke(app, ["signals", "ingest", str(path)])
    assert again.exit_code == 0, again.output
    assert "0 stored, 0 queued for delivery, dropped 1 (1 duplicate)" in " ".join(
        again.output.split())  # words, not a Python dict
    from musktracker.db.session import get_engine

    assert scores(get_engine(url)) == {"external:partner:p1": 5}


def test_non_utf8_inbound_and_rules_files_are_one_line_errors(
    ingest_env: tuple[str, Path], runner: CliRunner
) -> None:
    _, tmp = ingest_env
    binary = tmp / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe{}\n")
    result = runner.invoke(app, ["signals", "ingest", str(binary)])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot read ")
    assert "bin.jsonl:1: not UTF-8 (byte 0xff at column 1)" in result.output
    assert "Traceback" not in result.output
    rules = tmp / "bin.yml"
    rules.write_bytes(b"\xff\xfe- name: r\n")
    checked = runner.invoke(app, ["signals", "rules", "check", str(rules)])
    assert checked.exit_code == 1
    assert checked.output.startswith("error: cannot read rules file") and "not UTF-8" in (
        checked.output
    )


@pytest.fixture
def signals_api(engine: Engine, db_url: str) -> Iterator[Api]:
    yield from build_api(engine, db_url, signals_enrich=False)


def test_api_ingest_answers_422_naming_the_data_key(signals_api: Api) -> None:
    cases = {
        "body.data.dex_liquidity": {**GOOD, "data": {"dex_liquidity": "lots"}},
        "body.data.type": {**GOOD, "data": {"type": "volume_burst"}},
        "body[1].data.evidence_count": [GOOD, {**GOOD, "data": {"evidence_count": 99}}],
        "body.created_at": {**GOOD, "created_at": "0001-01-01T00:00:00Z"},
        "body[1].created_at": [GOOD, {**GOOD, "created_at": "2099-01-01T00:00:00Z"}],
        "body.data.x": {**GOOD, "data": {"x": {"nested": True}}},
    }
    for field, payload in cases.items():
        response = signals_api.post("/v1/signals/ingest", json=payload)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["details"][0]["field"] == field
    with session_scope(signals_api.engine) as session:
        assert session.scalar(select(func.count()).select_from(SignalEvent)) == 0


def test_rules_check_rejects_a_non_finite_score(tmp_path: Path, runner: CliRunner) -> None:
    rules = tmp_path / "inf.yml"
    rules.write_text(
        "- name: boom\n  condition: \"type == 'external'\"\n  score: .inf\n  reason: r\n"
    )
    result = runner.invoke(app, ["signals", "rules", "check", str(rules)])
    assert result.exit_code == 1
    assert result.output == "error: rule 'boom': score 'inf' must be a finite number\n"


def test_rules_check_shows_brackets_in_names_conditions_and_the_path(
    tmp_path: Path, runner: CliRunner
) -> None:
    """Rich read "[b]" in a rule's name or condition, and "[x]" in the path, as markup and
    dropped them from the table."""
    folder = tmp_path / "[x]"
    folder.mkdir()
    rules = folder / "rules.yml"
    rules.write_text(
        '- name: "[b]old"\n  condition: "account == \'[bold]elon\'"\n  score: 1\n'
        '  reason: r\n  priority: "[i]tier"\n'
    )
    result = runner.invoke(
        app, ["signals", "rules", "check", str(rules)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    for shown in (f"{rules}: 1 rule\n", "[b]old", "account == '[bold]elon'", "[i]tier"):
        assert shown in result.output, shown
