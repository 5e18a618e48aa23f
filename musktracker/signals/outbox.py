"""The transactional outbox: queue rows, claim due ones, record each delivery attempt.

Row life: pending -> sending (claimed with a lease) -> done | failed (retry later) | dlq.
While a row is 'sending', `next_retry_at` is the end of its lease: a dispatcher killed
mid-send leaves the row there, and once the lease ends any dispatcher reclaims it and sends
it again with the same idempotency key, so the receiver can drop the repeat.

A dispatcher claims a batch, but sends its rows one after another: just before each send,
`start_attempt` renews that row's lease and counts the attempt with an UPDATE conditional on
the claim (still 'sending', `retry_count` unchanged since the claim). If another dispatcher
reclaimed the row after the batch lease ran out and started it first, the UPDATE matches
nothing and the row is skipped: one send, not two. `record_attempt` is conditional the same
way. A claimed row never started (its dispatcher died first, or its channel is held back
by a Retry-After) has used no attempt.

Retry policy: a 429 or 5xx waits for the receiver's Retry-After when it asks for at least
1 s; otherwise 408, 429, 5xx and network errors back off exponentially (base * 2^attempt,
capped, default 10 minutes); other 4xx go to 'dlq' at once; a row that used up its attempts
goes to 'dlq'. The last error is kept on the row.
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
from musktracker.db.types import MAX_ROW_ID
from musktracker.signals.notifiers.base import DeliveryResult
from musktracker.utc import utcnow

CLAIMABLE = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value, OutboxStatus.SENDING.value)
TRANSIENT_4XX = frozenset({408, 429})
"""4xx answers worth retrying: Request Timeout and Too Many Requests. Any other 4xx is the
receiver refusing this message for good (404, 410 gone, 422...): dead letter at once."""
MIN_RETRY_AFTER = 1.0
"""Shortest Retry-After honoured (HTTP gives whole seconds); less falls back to the backoff."""


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

    def asked_wait(self, result: DeliveryResult) -> float | None:
        """Seconds the receiver asked us to wait (Retry-After on a 429 or 5xx), at most
        `backoff_max`; None when it asked for none or for less than a second.

        A 503 with Retry-After is as clear as a 429. A `Retry-After: 0` is not taken at its
        word: the row was due again at once, and one pass spent every attempt in 0.1 s."""
        code, wait = result.status_code, result.retry_after
        if code is None or not (code == 429 or code >= 500) or wait is None:
            return None
        return min(wait, self.backoff_max) if wait >= MIN_RETRY_AFTER else None

    def decide(self, result: DeliveryResult, attempt: int, now: datetime) -> tuple[str, datetime]:
        """The row's next status and due time after attempt number `attempt`."""
        if result.ok:
            return OutboxStatus.DONE.value, now
        code = result.status_code
        if code is not None and 400 <= code < 500 and code not in TRANSIENT_4XX:
            return OutboxStatus.DLQ.value, now
        if attempt >= self.max_attempts:
            return OutboxStatus.DLQ.value, now
        wait = self.asked_wait(result)
        if wait is None:
            wait = self.backoff(attempt)
        return OutboxStatus.FAILED.value, now + timedelta(seconds=wait)


@dataclass(frozen=True)
class Claimed:
    """A row this dispatcher claimed; `attempt` is the number its send will be (the row's
    `retry_count` is `attempt - 1` until `start_attempt`, then `attempt`)."""

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

    The attempt is counted by `start_attempt`, just before each send: a message that keeps
    killing its dispatcher mid-send still reaches the dead-letter state after
    `max_attempts`, while rows of the batch that were never sent keep their attempts.
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
        claimed.append(
            Claimed(
                id=row.id,
                channel=row.channel,
                event_key=row.event_key,
                idempotency_key=row.idempotency_key,
                payload=dict(row.payload),
                attempt=row.retry_count + 1,
            )
        )
    return claimed


def _rowcount(session: Session, stmt: Any) -> int:
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)


def _still_claimed(claimed: Claimed, retry_count: int) -> Any:
    return (
        (PushOutbox.id == claimed.id)
        & (PushOutbox.status == OutboxStatus.SENDING.value)
        & (PushOutbox.retry_count == retry_count)
    )


def start_attempt(session: Session, claimed: Claimed, lease_seconds: float) -> bool:
    """Renew the lease of one claimed row and count its attempt, just before sending it.

    False when the claim was lost (another dispatcher reclaimed the row after the batch's
    lease ended and started it, or it was finished meanwhile): do not send it.
    """
    lease_end = utcnow() + timedelta(seconds=lease_seconds)
    stmt = (
        update(PushOutbox)
        .where(_still_claimed(claimed, claimed.attempt - 1))
        .values(retry_count=claimed.attempt, next_retry_at=lease_end)
    )
    return _rowcount(session, stmt) == 1


def release(session: Session, claimed: Claimed, due: datetime) -> bool:
    """Give a claimed row back unsent, due at `due`, without using an attempt."""
    status = OutboxStatus.PENDING if claimed.attempt == 1 else OutboxStatus.FAILED
    stmt = (
        update(PushOutbox)
        .where(_still_claimed(claimed, claimed.attempt - 1))
        .values(status=status.value, next_retry_at=due)
    )
    return _rowcount(session, stmt) == 1


def record_attempt(
    session: Session, claimed: Claimed, result: DeliveryResult, policy: RetryPolicy
) -> str | None:
    """Store the outcome of one started send; returns the row's new status, or None when
    the claim was lost meanwhile (another dispatcher owns the row; nothing is written)."""
    now = utcnow()
    status, due = policy.decide(result, claimed.attempt, now)
    values: dict[str, Any] = {"status": status, "next_retry_at": due}
    if result.ok:
        values["sent_at"] = now
        values["last_error"] = None  # an earlier failure is history once delivered
    else:
        values["last_error"] = (result.error or f"HTTP {result.status_code}")[:2000]
    stmt = update(PushOutbox).where(_still_claimed(claimed, claimed.attempt)).values(**values)
    return status if _rowcount(session, stmt) == 1 else None


def backlog(session: Session) -> int:
    """Rows not yet delivered nor dead-lettered."""
    return int(session.scalar(select(func.count()).where(PushOutbox.status.in_(CLAIMABLE))) or 0)


def list_rows(session: Session, status: str | None, limit: int) -> Sequence[PushOutbox]:
    """Newest rows first, optionally of one status."""
    stmt = select(PushOutbox).order_by(PushOutbox.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(PushOutbox.status == status)
    return session.scalars(stmt).all()


RETRYABLE = (OutboxStatus.DLQ.value, OutboxStatus.FAILED.value, OutboxStatus.PENDING.value)
"""What `retry ID` requeues (due now, attempts reset): dead letters, rows waiting for a
retry, queued rows. Never `done` (it would be delivered again) nor `sending` (in flight;
an abandoned one is reclaimed by itself when its lease ends)."""


def retry(session: Session, row_id: int | None = None, all_dlq: bool = False) -> int:
    """Put a row (or every dead-lettered row) back in the queue; returns rows requeued."""
    stmt = update(PushOutbox).values(
        status=OutboxStatus.PENDING.value, next_retry_at=utcnow(), retry_count=0
    )
    if all_dlq:
        return _rowcount(session, stmt.where(PushOutbox.status == OutboxStatus.DLQ.value))
    if row_id is None or not 0 < row_id <= MAX_ROW_ID:  # past 2**63 the driver overflows
        raise OutboxError(f"outbox row id {row_id} does not exist")
    requeued = _rowcount(
        session, stmt.where(PushOutbox.id == row_id, PushOutbox.status.in_(RETRYABLE))
    )
    if requeued:
        return requeued
    status = session.scalar(select(PushOutbox.status).where(PushOutbox.id == row_id))
    if status is None:
        raise OutboxError(f"outbox row id {row_id} does not exist")
    what = "was delivered already" if status == OutboxStatus.DONE.value else "is being sent now"
    raise OutboxError(
        f"outbox row {row_id} is {status} ({what}); only dlq, failed or pending rows can be retried"
    )
