"""UTC discipline: every datetime that crosses a boundary is timezone-aware UTC.

A naive datetime is an error, never silently assumed to be UTC, because a wrong guess
shifts every count by the local offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FUTURE_TOLERANCE = timedelta(minutes=5)
"""Clock skew allowed before a time handed to us (a post, an inbound event) counts as "in
the future"."""


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone reached a place that needs UTC."""


class TimeFormatError(ValueError):
    """Text that is not an ISO 8601 time; the message names the field and the text."""


class OutOfRangeError(ValueError):
    """A datetime that Python cannot represent once converted to UTC (year 0 or 10000)."""


def ensure_utc(value: datetime, field: str = "datetime") -> datetime:
    """Return `value` converted to UTC; refuse naive datetimes."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{field} {value.isoformat()!r} has no time zone; give an explicit UTC offset "
            "such as 'Z' or '+00:00'"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T20:00-05:00 is past datetime.max once in UTC. OverflowError would slip
        # through pydantic's validation (it only turns ValueError into a 422) as a 500.
        raise OutOfRangeError(f"{field} {value.isoformat()!r} is out of range in UTC") from None


def parse_utc(text: str, field: str = "time") -> datetime:
    """Parse ISO 8601 text with a zone (`Z` or an offset) into an aware UTC datetime."""
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise TimeFormatError(f"{field} {text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise NaiveDatetimeError(
            f"{field} {text!r} has no time zone; "
            "give an explicit UTC offset such as 'Z' or '+00:00'"
        )
    return ensure_utc(parsed, field)


def floor_hour(value: datetime) -> datetime:
    """Start of the UTC hour containing `value`."""
    return ensure_utc(value).replace(minute=0, second=0, microsecond=0)


def floor_day(value: datetime) -> datetime:
    """Start of the UTC day containing `value`."""
    return floor_hour(value).replace(hour=0)


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)
