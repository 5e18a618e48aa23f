"""The bulk write helpers store exactly what the ORM would, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from musktracker.db.dialect import bulk_insert, insert_ignoring_conflicts, upsert
from musktracker.db.models import PushOutbox, Signal, SignalEvent
from musktracker.db.session import session_scope

T = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)  # SQLite text must keep ".000000" for these
T_MICRO = T.replace(microsecond=123456)


def outbox_row(key: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "channel": "webhook",
        "event_key": key,
        "idempotency_key": f"id-{key}",
        "payload": {"score": 1.5, "reasons": ["a", "ü"], "none": None},
        "next_retry_at": T,
        "sent_at": T_MICRO,
    }
    return {**row, **values}


STORED = "channel, payload, status, retry_count, next_retry_at, last_error, sent_at"


def raw_columns(engine: Engine, key: str) -> tuple[object, ...]:
    """An outbox row's values as the driver returns them (text on SQLite), unprocessed."""
    with engine.connect() as conn:
        query = text(f"SELECT {STORED} FROM push_outbox WHERE event_key = :k")
        return tuple(conn.execute(query, {"k": key}).one())


def test_bulk_rows_are_stored_like_orm_rows(engine: Engine) -> None:
    """Same stored values, times in another zone as UTC, Python defaults filled in."""
    zoned = T.astimezone(timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        session.add(PushOutbox(**outbox_row("orm", created_at=T), status="pending", retry_count=0))
    with session_scope(engine) as session:
        # status, retry_count and created_at are left out: their Python defaults apply.
        bulk_insert(session, PushOutbox, [outbox_row("bulk", next_retry_at=zoned)])
    assert raw_columns(engine, "bulk") == raw_columns(engine, "orm")
    with session_scope(engine) as session:
        row = session.scalars(select(PushOutbox).where(PushOutbox.event_key == "bulk")).one()
        assert (row.status, row.retry_count, row.next_retry_at) == ("pending", 0, T)
        assert row.payload == {"score": 1.5, "reasons": ["a", "ü"], "none": None}
        assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_inserted_counts_conflicts_and_upserts(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert insert_ignoring_conflicts(session, PushOutbox, [outbox_row("a")], KEY) == 1
    with session_scope(engine) as session:
        rows = [outbox_row("a", idempotency_key="changed"), outbox_row("b"), outbox_row("c")]
        assert insert_ignoring_conflicts(session, PushOutbox, rows, KEY) == 2
        assert insert_ignoring_conflicts(session, PushOutbox, [], KEY) == 0
    event = {
        "event_key": "e",
        "type": "post",
        "summary": "s",
        "evidence": [],
        "start_ts": T,
        "last_ts": T,
    }
    with session_scope(engine) as session:
        bulk_insert(session, SignalEvent, [event])
        signal = {
            "event_key": "e",
            "state": "candidate",
            "score": -0.0,
            "risk_level": "unknown",
            "reasons": [],
            "features_snapshot": {},
        }
        upsert(session, Signal, [signal], ["event_key"], ["score"])
        upsert(session, Signal, [{**signal, "score": 2.5}], ["event_key"], ["score"])
    with session_scope(engine) as session:
        keys = session.execute(select(PushOutbox.event_key, PushOutbox.idempotency_key)).all()
        assert sorted(keys) == [("a", "id-a"), ("b", "id-b"), ("c", "id-c")]
        stored = session.scalars(select(Signal)).one()
        assert (stored.score, stored.ts.tzinfo) == (2.5, UTC)
        assert session.scalars(select(SignalEvent)).one().evidence_count == 1  # its default


def test_naive_times_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="time zone"), session_scope(engine) as session:
        bulk_insert(session, PushOutbox, [outbox_row("n", next_retry_at=datetime(2026, 1, 1))])


KEY = ["channel", "event_key"]
