"""The pipeline end to end on SQLite and PostgreSQL: ingest, dedup, storage, outbox, sources."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import (
    Account,
    Forecast,
    ModelMetadata,
    PushOutbox,
    RawTweet,
    RegimeShift,
    SentimentPrediction,
    Signal,
    SignalEvent,
    TimeBucket,
)
from musktracker.db.session import session_scope
from musktracker.ingest.archive import PostRecord
from musktracker.signals.dedup import DatabaseDedupStore, Deduplicator, RedisDedupStore
from musktracker.signals.event import RawEvent
from musktracker.signals.filter import FilterConfig
from musktracker.signals.pipeline import SignalPipeline
from musktracker.signals.rules import parse_rules
from musktracker.signals.runner import poll_once
from musktracker.signals.sources.internal import (
    RegimeShiftSource,
    SentimentSwingSource,
    VolumeBurstSource,
)
from musktracker.signals.sources.posts import PostSource, SignalPostConsumer
from musktracker.utc import HOUR, floor_hour, utcnow

RULES = """
- {name: token, condition: "cashtag_count > 0", score: 6, reason: names a token}
- {name: burst, condition: "type == 'volume_burst'", score: 9, reason: burst}
- {name: repeat, condition: "evidence_count >= 2", score: 1, reason: repeated}
"""
TEXTS = [
    "We are going to send $DOGE to the moon next year with a real rocket",
    "Tesla will accept $DOGE for merchandise starting from next week",
    "The new factory in Texas is almost finished and looks great",
]


def pipeline(engine: Engine, store: object | None = None) -> SignalPipeline:
    return SignalPipeline(
        engine,
        rules=lambda: parse_rules(RULES),
        filter_config=FilterConfig.from_strings("en", "", ""),
        dedup=Deduplicator(store or DatabaseDedupStore()),  # type: ignore[arg-type]
        thresholds={"webhook": 5.0, "telegram": 20.0},
    )


def post(i: int, text: str, minutes: int = 0) -> RawEvent:
    return RawEvent(
        source="x",
        source_id=str(1000 + i),
        type="post",
        created_at=utcnow().replace(hour=12) - timedelta(minutes=minutes),
        account="elonmusk",
        text=text,
    )


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_stages_store_and_outbox_in_one_batch(engine: Engine) -> None:
    pipe = pipeline(engine)
    result = pipe.process([post(i, t) for i, t in enumerate(TEXTS)])
    assert result.stored == 3
    with session_scope(engine) as session:
        doge = session.scalars(select(SignalEvent).where(SignalEvent.symbol == "DOGE")).one()
        assert doge.evidence_count == 2 and len(doge.evidence) == 2
        signal = session.scalars(select(Signal).where(Signal.event_key == doge.event_key)).one()
        assert signal.score == 7 and signal.reasons == ["names a token", "repeated"]
        rows = session.scalars(select(PushOutbox)).all()
    assert [(r.channel, r.event_key) for r in rows] == [("webhook", doge.event_key)]
    # Exact repeats (same source id) and near copies of a text are dropped.
    again = pipe.process([post(0, TEXTS[0]), post(9, TEXTS[2] + " !!")])
    assert again.stored == 0 and again.dropped["duplicate"] == 2
    assert count(engine, PushOutbox) == 1


def test_failed_batch_writes_nothing(engine: Engine) -> None:
    pipe = pipeline(engine)

    def explode(session: object) -> None:
        raise RuntimeError("crash after storing")

    with pytest.raises(RuntimeError):
        pipe.process([post(0, TEXTS[0])], on_commit=explode)
    assert count(engine, SignalEvent) == count(engine, PushOutbox) == 0
    assert pipe.process([post(0, TEXTS[0])]).stored == 1  # dedup forgot it too


def test_redis_dedup_store(engine: Engine, redis_client: redis.Redis) -> None:
    client = redis_client
    prefix = f"test:{os.getpid()}:{id(engine)}"
    store = RedisDedupStore(client, prefix=prefix)
    try:
        pipe = pipeline(engine, store)
        assert pipe.process([post(0, TEXTS[0])]).stored == 1
        assert 0 < client.ttl(f"{prefix}:id:x:1000") <= 14 * 86400
        result = pipe.process([post(0, TEXTS[0]), post(5, TEXTS[0] + "!!! ")])
        assert result.dropped["duplicate"] == 2
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


@pytest.fixture
def signals_cli(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database and the CLI set up with RULES, no enrichment and a webhook that
    nothing answers (deliveries stay pending); yields the database URL."""
    from musktracker.db import migrate

    migrate.upgrade(cli_env)
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    monkeypatch.setenv("RULES_PATH", str(rules))
    monkeypatch.setenv("SIGNALS_ENRICH", "false")
    monkeypatch.setenv("WEBHOOK_URL", "http://127.0.0.1:9/hook")
    return cli_env


def test_ingest_cli_validates_every_line_first(
    signals_cli: str, runner: CliRunner, tmp_path: Path
) -> None:
    good = {
        "source": "partner",
        "source_id": "a1",
        "created_at": "2026-11-20T10:00:00Z",
        "text": TEXTS[0],
        "type": "external",
    }
    bad = {**good, "source_id": "a2", "created_at": "2026-11-20T10:00:00"}
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 1
    assert "line 3" in result.output and "created_at" in result.output
    # Brackets in a message survive (Rich used to read "[a-z0-9_.-]" as markup and drop it).
    path.write_text(json.dumps({**good, "source": "Partner"}) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 1 and "^[a-z0-9_.-]+$" in result.output, result.output
    from musktracker.db.session import get_engine

    engine = get_engine(signals_cli)
    assert count(engine, SignalEvent) == 0
    path.write_text(json.dumps(good) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 stored, 1 queued" in result.output
    listed = runner.invoke(app, ["signals", "outbox", "list", "--status", "pending"])
    assert "webhook" in listed.output
    missing = runner.invoke(app, ["signals", "outbox", "retry", "999"])
    assert missing.exit_code == 1 and "999 does not exist" in missing.output


def test_outbox_list_shows_event_keys_as_stored(
    signals_cli: str, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`:moon:` in `cashtag:MOON:<day>` (and `:x:` in `post:x:<id>`) is an emoji code to Rich;
    the listing printed 🌔 and ❌ instead of the key."""
    from musktracker.cli import runtime

    monkeypatch.setattr(runtime.console, "width", 200)  # a wide terminal: no wrapped cells
    event = {
        "source": "x",
        "source_id": "m1",
        "type": "post",
        "created_at": "2026-11-20T10:00:00Z",
        "text": "Everyone is buying $MOON this week after the launch news",
    }
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n")
    result = runner.invoke(app, ["signals", "ingest", str(path)])
    assert result.exit_code == 0 and "1 queued" in result.output, result.output
    listed = runner.invoke(app, ["signals", "outbox", "list"])
    assert "cashtag:MOON:2026-11-20" in listed.output, listed.output


def _account(engine: Engine) -> int:
    with session_scope(engine) as session:
        account = Account(username="elonmusk")
        session.add(account)
        session.flush()
        return account.id


def test_post_source_checkpoint_and_stream_consumer(engine: Engine) -> None:
    account_id = _account(engine)
    now = utcnow()
    with session_scope(engine) as session:
        for i, body in enumerate(TEXTS):
            session.add(
                RawTweet(
                    account_id=account_id,
                    tweet_id=str(50 + i),
                    created_at=now,
                    source="test",
                    text=body,
                )
            )
    pipe = pipeline(engine)

    streamed = PostRecord("99", now, text="Another $DOGE post arriving through the stream hook")
    assert SignalPostConsumer(pipe, "elonmusk").on_post(streamed).stored == 1
    first = poll_once(engine, pipe, [PostSource()])
    assert first.stored == 3
    assert poll_once(engine, pipe, [PostSource()]).stored == 0  # checkpoint moved on
    with session_scope(engine) as session:
        urls = {e["url"] for row in session.scalars(select(SignalEvent)) for e in row.evidence}
    assert "https://x.com/elonmusk/status/50" in urls


def test_volume_burst_and_absent_model_tables(engine: Engine) -> None:
    account_id = _account(engine)
    hour = floor_hour(utcnow()) - 2 * HOUR
    with session_scope(engine) as session:
        meta = ModelMetadata(
            account_id=account_id,
            model_name="nb",
            model_version="1",
            training_start_date=hour - 100 * HOUR,
            training_end_date=hour,
        )
        session.add(meta)
        session.flush()
        for h, actual in ((hour, 30), (hour - HOUR, 4)):
            session.add(
                Forecast(
                    account_id=account_id,
                    model_metadata_id=meta.id,
                    forecast_time=h - HOUR,
                    target_time=h,
                    predicted_count=5,
                    upper_bound_95=12,
                )
            )
            session.add(
                TimeBucket(
                    account_id=account_id,
                    bucket_start=h,
                    bucket_end=h + HOUR,
                    granularity="hourly",
                    tweet_count=actual,
                )
            )
    with session_scope(engine) as session:
        bursts = VolumeBurstSource().fetch(session)
        assert RegimeShiftSource().fetch(session) == []  # table absent: no events, no error
        assert SentimentSwingSource().fetch(session) == []
    assert len(bursts) == 1 and bursts[0].data["volume_actual"] == 30
    result = pipeline(engine).process(bursts)
    assert list(result.scores.values()) == [9]


def test_a_new_shift_given_a_vanished_shifts_row_id_is_still_alerted(engine: Engine) -> None:
    """Regime detection deletes shifts that vanish and stores new ones; SQLite hands the
    newest deleted row's id to the next row. Keyed by row id, dedup took the new shift for
    the old one and dropped its alert."""
    account_id = _account(engine)
    now = utcnow()

    def shift(days_ago: int, direction: str) -> RegimeShift:
        return RegimeShift(
            account_id=account_id, rule="nb_cusum", count_rule="all",
            change_at=now - timedelta(days=days_ago), detected_at=now, direction=direction,
            level_before=60.0, level_after=120.0 if direction == "up" else 30.0,
        )

    pipe = pipeline(engine)
    with session_scope(engine) as session:
        first = shift(3, "up")
        session.add(first)
        session.flush()
        first_id = first.id
    with session_scope(engine) as session:
        assert pipe.process(RegimeShiftSource().fetch(session)).stored == 1
    with session_scope(engine) as session:
        session.delete(session.get(RegimeShift, first_id))
    with session_scope(engine) as session:
        second = shift(2, "down")
        session.add(second)
        session.flush()
        reused = second.id == first_id  # SQLite: yes; PostgreSQL's sequence: no
    with session_scope(engine) as session:
        events = RegimeShiftSource().fetch(session)
    assert pipe.process(events).stored == 1, f"dropped as seen (row id reused: {reused})"
    assert [e.source_id.split(":")[1:4] for e in events] == [["elonmusk", "all", "nb_cusum"]]
    assert events[0].source_id.endswith(":down")


def test_sentiment_swing_and_regime_tables_when_present(engine: Engine) -> None:
    account_id = _account(engine)
    now = utcnow()
    rows = []
    for day in range(0, 12):
        negatives = 16 if day == 0 else 2 + day % 2  # usual 10-15%, today 80%
        for i in range(20):
            rows.append(
                SentimentPrediction(
                    account_id=account_id,
                    tweet_id=day * 100 + i,
                    posted_at=now - timedelta(days=day, hours=1, minutes=i),
                    label="negative" if i < negatives else "positive",
                    p_negative=0.9 if i < negatives else 0.05,
                    p_neutral=0.05,
                    p_positive=0.05 if i < negatives else 0.9,
                    confidence=0.9,
                    n_words=12,
                    model_version="1",
                )
            )
    with session_scope(engine) as session:
        session.add_all(rows)
    with session_scope(engine) as session:
        session.add(
            RegimeShift(
                account_id=account_id,
                rule="nb_cusum",
                count_rule="all",
                change_at=now - timedelta(days=3),
                detected_at=now,
                direction="up",
                level_before=60.0,
                level_after=120.0,
            )
        )
    with session_scope(engine) as session:
        swings = SentimentSwingSource().fetch(session)
        shifts = RegimeShiftSource().fetch(session)
    assert len(swings) == 1 and swings[0].data["negative_share"] == 0.8
    assert swings[0].account == "elonmusk"
    assert len(shifts) == 1 and shifts[0].account == "elonmusk"
    assert (
        shifts[0].text.startswith("posting level went up (nb_cusum)")
        and "60 -> 120" in shifts[0].text
    )
