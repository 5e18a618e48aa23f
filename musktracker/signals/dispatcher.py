"""The dispatcher: claim due outbox rows, send each through its channel, record the result.

Claims commit before anything is sent; each row's lease is renewed (and its attempt
counted) in its own transaction just before its send, and each result commits right after,
so a dispatcher killed at any moment loses at most the record of one send: that row stays
'sending' until its lease ends and is then sent again with the same idempotency key.

One row's trouble stays with that row: an unexpected exception from a channel is recorded
as the row's failed attempt (`last_error`), and the batch goes on. A 429 or 5xx with a
Retry-After holds the whole channel back: the batch's other rows for it are given back
unsent, due when the wait ends, without using an attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.engine import Engine

from musktracker.db.models import OutboxStatus
from musktracker.db.session import session_scope
from musktracker.logging import get_logger
from musktracker.signals import outbox
from musktracker.signals.metrics import NOTIFICATIONS_SENT, OUTBOX_BACKLOG
from musktracker.signals.notifiers.base import DeliveryResult, Notifier
from musktracker.utc import utcnow

log = get_logger(__name__)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        notifiers: Mapping[str, Notifier],
        policy: outbox.RetryPolicy,
        lease_seconds: float = 60.0,
        batch_size: int = 20,
    ) -> None:
        self.engine = engine
        self.notifiers = notifiers
        self.policy = policy
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        # Channel -> monotonic time until which its receiver asked us to wait (Retry-After).
        self._held_until: dict[str, float] = {}

    def run_once(self) -> int:
        """Send every row due now, batch by batch; returns attempts made."""
        attempts = 0
        while True:
            with session_scope(self.engine) as session:
                claimed = outbox.claim_due(
                    session, self.batch_size, self.lease_seconds, self.policy.max_attempts
                )
            if not claimed:
                break
            for row in claimed:
                attempts += self._deliver(row)
        with session_scope(self.engine) as session:
            OUTBOX_BACKLOG.set(outbox.backlog(session))
        return attempts

    def _held(self, row: outbox.Claimed) -> bool:
        """Give the row back unsent if its channel is held (Retry-After); True if it was."""
        wait = self._held_until.get(row.channel, 0.0) - time.monotonic()
        if wait <= 0:
            return False
        with session_scope(self.engine) as session:
            outbox.release(session, row, utcnow() + timedelta(seconds=wait))
        log.info(
            "channel asked to wait (Retry-After); row requeued without using an attempt",
            stage="dispatch",
            event_key=row.event_key,
            channel=row.channel,
            wait_seconds=round(wait, 1),
        )
        return True

    def _send(self, row: outbox.Claimed) -> DeliveryResult:
        notifier = self.notifiers.get(row.channel)
        if notifier is None:
            # 400-class: not worth retrying until someone configures the channel.
            return DeliveryResult(
                ok=False, status_code=400, error=f"channel {row.channel!r} is not configured"
            )
        try:
            return notifier.send(row.payload, row.idempotency_key)
        except Exception as exc:  # a channel bug or an odd answer: this row's failure only
            log.exception("channel raised while sending", stage="dispatch", event_key=row.event_key)
            return DeliveryResult(ok=False, error=f"unexpected {type(exc).__name__}: {exc}")

    def _deliver(self, row: outbox.Claimed) -> int:
        """Send one claimed row unless held back or taken over; returns attempts made."""
        if self._held(row):
            return 0
        with session_scope(self.engine) as session:
            started = outbox.start_attempt(session, row, self.lease_seconds)
        if not started:
            log.warning(
                "row was reclaimed by another dispatcher; not sent again",
                stage="dispatch",
                event_key=row.event_key,
                channel=row.channel,
            )
            return 0
        result = self._send(row)
        wait = self.policy.asked_wait(result)
        if wait is not None:
            self._held_until[row.channel] = time.monotonic() + wait
        with session_scope(self.engine) as session:
            status = outbox.record_attempt(session, row, result, self.policy)
        if status is None:
            log.warning(
                "lease lost during the send; another dispatcher owns the row now",
                stage="dispatch",
                event_key=row.event_key,
                channel=row.channel,
                error=result.error,
            )
            return 1
        NOTIFICATIONS_SENT.labels(channel=row.channel, status=status).inc()
        logger = log.info if status == OutboxStatus.DONE.value else log.warning
        logger(
            "delivery attempt",
            stage="dispatch",
            event_key=row.event_key,
            channel=row.channel,
            attempt=row.attempt,
            status=status,
            error=result.error,
        )
        return 1

    def run_forever(self, poll_seconds: float, stop: threading.Event) -> None:
        """Deliver until `stop` is set, checking for due rows every `poll_seconds`."""
        while not stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # e.g. the database restarting: claimed rows wait for their lease
                log.exception("dispatch pass failed; retrying", stage="dispatch")
                busy = False
            if not busy:
                stop.wait(poll_seconds)
