"""The `[start, end)` query window shared by the counts and forecast-window routes: both in
UTC, end after start, and no longer than API_MAX_COUNT_DAYS, each failure naming its field."""

from __future__ import annotations

from datetime import datetime

from musktracker.api.errors import field_error
from musktracker.utc import DAY, OutOfRangeError, ensure_utc


def _utc(value: datetime, field: str) -> datetime:
    """`value` in UTC, or a 422 naming `field` when it cannot be (outside years 1-9999)."""
    try:
        return ensure_utc(value)
    except OutOfRangeError:
        raise field_error(field, "outside the supported range of dates", value) from None


def query_window(start: datetime, end: datetime, max_days: int) -> tuple[datetime, datetime]:
    """The checked window `[start, end)` in UTC."""
    start, end = _utc(start, "query.start"), _utc(end, "query.end")
    if end <= start:
        raise field_error("query.end", f"must be after start {start.isoformat()}", end)
    if end - start > max_days * DAY:
        raise field_error(
            "query.end", f"the window is longer than {max_days} days (API_MAX_COUNT_DAYS)", end
        )
    return start, end
