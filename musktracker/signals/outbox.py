"""The transactional outbox: queue rows, claim due ones, record each delivery attempt.

Row life: pending -> sending (claimed with a lease) -> done | failed (retry later) | dlq.
While a row is 'sending', `next_retry_at` is the end of its lease: a dispatcher killed
mid-send leaves the row there, and once the lease ends any dispatcher reclaims it and sends
it again with the same idempotency key, so the receiver can drop the repeat.

Retry policy: 429 waits for Retry-After; 5xx and network errors back off exponentially
(base * 2^attempt, capped, default 10 minutes); other 4xx go to 'dlq' at once; a row that
used up its attempts goes to 'dlq'. The last error is kept on the row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from musktracker.db.dialect import insert_ignoring_conflicts, skip_locked
from musktracker.db.models import OutboxStatus, PushOutbox
from musktracker.signals.notifiers.base import DeliveryResult
from musktracker.utc import utcnow

CLAIMABLE = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value, OutboxStatus.SENDING.value)


class OutboxError(ValueError):
    """An outbox command that cannot be done (unknown row id...)."""


def idempotency_key(channel: str, event_key: str) -> str:
    """Stable per channel and event: every repeat of one message carries the same key."""
    return hashlib.sha256(f"{channel}\n{event_key}".encode()).hexdigest()[:32]


def enqueue(session: Session, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
    """Queue (channel, event_key, payload) messages in the caller's transaction.

    A message queued before for the same channel and event is left alone (never sent twice:
    the unique key skips it); returns how many were new.
    """
    now = utcnow()
    rows = [
        {
            "channel": channel,
            "event_key": key,
            "idempotency_key": idempotency_key(channel, key),
            "payload": payload,
            "status": OutboxStatus.PENDING.value,
            "retry_count": 0,
            "next_retry_at": now,
            "created_at": now,
        }
        for channel, key, payload in messages
    ]
    return insert_ignoring_conflicts(session, PushOutbox, rows, ["channel", "event_key"])


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base: float = 5.0
    backoff_max: float = 600.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max))

    def decide(self, result: DeliveryResult, attempt: int, now: datetime) -> tuple[str, datetime]:
        """The row's next status and due time after attempt number `attempt`."""
        if result.ok:
            return OutboxStatus.DONE.value, now
        code = result.status_code
        if code is not None and 400 <= code < 500 and code != 429:
            return OutboxStatus.DLQ.value, now
        if attempt >= self.max_attempts:
            return OutboxStatus.DLQ.value, now
        if code == 429 and result.retry_after is not None:
            wait = min(result.retry_after, self.backoff_max)
        else:
            wait = self.backoff(attempt)
        return OutboxStatus.FAILED.value, now + timedelta(seconds=wait)


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    event_key: str
    idempotency_key: str
    payload: dict[str, Any]
    attempt: int


def claim_due(
    session: Session, limit: int, lease_seconds: float, max_attempts: int = 8
) -> list[Claimed]:
    """Mark up to `limit` due rows as 'sending' with a lease; the caller commits.

    An attempt counts when it starts, so a message that keeps killing its dispatcher
    mid-send still reaches the dead-letter state after `max_attempts`.
    """
    now = utcnow()
    stmt = (
        select(PushOutbox)
        .where(PushOutbox.status.in_(CLAIMABLE), PushOutbox.next_retry_at <= now)
        .order_by(PushOutbox.next_retry_at, PushOutbox.id)
        .limit(limit)
    )
    rows = session.scalars(skip_locked(session, stmt)).all()
    lease_end = now + timedelta(seconds=lease_seconds)
    claimed = []
    for row in rows:
        if row.status == OutboxStatus.SENDING.value and row.retry_count >= max_attempts:
            row.status = OutboxStatus.DLQ.value
            row.last_error = (
                f"no result recorded for {row.retry_count} attempts (dispatcher stopped "
                f"mid-send each time); last error: {row.last_error}"
            )[:2000]
            continue
        row.status = OutboxStatus.SENDING.value
        row.next_retry_at = lease_end
        row.retry_count += 1
        claimed.append(
            Claimed(
                id=row.id,
                channel=row.channel,
                event_key=row.event_key,
                idempotency_key=row.idempotency_key,
                payload=dict(row.payload),
                attempt=row.retry_count,
            )
        )
    return claimed


def record_attempt(
    session: Session, claimed: Claimed, result: DeliveryResult, policy: RetryPolicy
) -> str:
    """Store the outcome of one send; returns the row's new status."""
    now = utcnow()
    status, due = policy.decide(result, claimed.attempt, now)
    values: dict[str, Any] = {
        "status": status,
        "next_retry_at": due,
        "retry_count": claimed.attempt,
    }
    if result.ok:
        values["sent_at"] = now
    else:
        values["last_error"] = (result.error or f"HTTP {result.status_code}")[:2000]
    session.execute(update(PushOutbox).where(PushOutbox.id == claimed.id).values(**values))
    return status


def backlog(session: Session) -> int:
    """Rows not yet delivered nor dead-lettered."""
    return int(session.scalar(select(func.count()).where(PushOutbox.status.in_(CLAIMABLE))) or 0)


def list_rows(session: Session, status: str | None, limit: int) -> Sequence[PushOutbox]:
    """Newest rows first, optionally of one status."""
    stmt = select(PushOutbox).order_by(PushOutbox.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(PushOutbox.status == status)
    return session.scalars(stmt).all()


def retry(session: Session, row_id: int | None = None, all_dlq: bool = False) -> int:
    """Put a row (or every dead-lettered row) back in the queue; returns rows requeued."""
    stmt = update(PushOutbox).values(
        status=OutboxStatus.PENDING.value, next_retry_at=utcnow(), retry_count=0
    )
    if all_dlq:
        stmt = stmt.where(PushOutbox.status == OutboxStatus.DLQ.value)
    elif session.get(PushOutbox, row_id) is None:
        raise OutboxError(f"outbox row id {row_id} does not exist")
    else:
        stmt = stmt.where(PushOutbox.id == row_id)
    result = cast(CursorResult[Any], session.execute(stmt))
    return int(result.rowcount)
