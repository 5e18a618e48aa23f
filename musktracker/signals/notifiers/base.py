"""What a channel is: a name and `send`, which reports what the receiver answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from musktracker.utc import utcnow


@dataclass(frozen=True)
class DeliveryResult:
    """The receiver's answer; `status_code` None means no answer (network error)."""

    ok: bool
    status_code: int | None = None
    retry_after: float | None = None
    error: str | None = None


class Notifier(Protocol):
    channel: str

    def send(self, payload: dict[str, Any], idempotency_key: str) -> DeliveryResult: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - utcnow()).total_seconds(), 0.0)
