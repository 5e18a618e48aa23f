"""The dispatcher: claim due outbox rows, send each through its channel, record the result.

Claims commit before anything is sent, and each result commits right after its send, so a
dispatcher killed at any moment loses at most the record of one send: that row stays
'sending' until its lease ends and is then sent again with the same idempotency key.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from musktracker.db.models import OutboxStatus
from musktracker.db.session import session_scope
from musktracker.logging import get_logger
from musktracker.signals import outbox
from musktracker.signals.metrics import NOTIFICATIONS_SENT, OUTBOX_BACKLOG
from musktracker.signals.notifiers.base import DeliveryResult, Notifier

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
                self._deliver(row)
            attempts += len(claimed)
        with session_scope(self.engine) as session:
            OUTBOX_BACKLOG.set(outbox.backlog(session))
        return attempts

    def _deliver(self, row: outbox.Claimed) -> None:
        notifier = self.notifiers.get(row.channel)
        if notifier is None:
            # 400-class: not worth retrying until someone configures the channel.
            result = DeliveryResult(
                ok=False, status_code=400, error=f"channel {row.channel!r} is not configured"
            )
        else:
            result = notifier.send(row.payload, row.idempotency_key)
        with session_scope(self.engine) as session:
            status = outbox.record_attempt(session, row, result, self.policy)
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
