"""What a bad rule, a bad source, a bad inbound value or a bad file does to a pass: it is
reported and contained, never a stalled pipeline, a traceback or a wrong score."""

from __future__ import annotations

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
        type=type_,  # type: ignore[arg-type]
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


# --- files ----------------------------------------------------------------------------


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


def test_non_utf8_inbound_and_rules_files_are_one_line_errors(
    ingest_env: tuple[str, Path], runner: CliRunner
) -> None:
    _, tmp = ingest_env
    binary = tmp / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe{}\n")
    result = runner.invoke(app, ["signals", "ingest", str(binary)])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot read ") and "not UTF-8 text" in result.output
    assert "Traceback" not in result.output
    rules = tmp / "bin.yml"
    rules.write_bytes(b"\xff\xfe- name: r\n")
    checked = runner.invoke(app, ["signals", "rules", "check", str(rules)])
    assert checked.exit_code == 1
    assert checked.output.startswith("error: cannot read rules file") and "not UTF-8" in (
        checked.output
    )
