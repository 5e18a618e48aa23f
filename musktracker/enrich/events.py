"""Adding, listing and deleting exogenous events; each change refreshes the features whose
event window it overlaps, so stored features never disagree with the events table."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.accounts import get_account, list_accounts
from musktracker.db.models import ExogenousEvent
from musktracker.db.types import MAX_ROW_ID
from musktracker.features.build import EVENT_LOOKBACK, refresh_features, stored_rules
from musktracker.utc import HOUR, OutOfRangeError, ensure_utc, floor_hour

EARLIEST_YEAR, LATEST_YEAR = 1970, 2261
"""Event times features can use (pandas nanosecond timestamps end in April 2262)."""


class EventError(ValueError):
    """An event's field has a value that cannot be stored; the message names it."""


@dataclass(frozen=True)
class NewEvent:
    name: str
    start: datetime
    end: datetime
    intensity: float
    category: str | None = None
    description: str | None = None
    source: str = "manual"
    account: str | None = None

    def validate(self) -> None:
        for option, text in (
            ("--name", self.name),
            ("--category", self.category),
            ("--source", self.source),
        ):
            _single_line(text, option)
        if not self.name.strip():
            raise EventError("--name must not be empty")
        if len(self.name) > 256:
            raise EventError(f"--name is {len(self.name)} characters long; at most 256")
        if self.category is not None and not self.category.strip():
            raise EventError(f"--category {self.category!r} is blank; leave it out for none")
        if self.category is not None and len(self.category) > 64:
            raise EventError(f"--category {self.category!r} is longer than 64 characters")
        if not self.source.strip() or len(self.source) > 64:
            raise EventError(f"--source {self.source!r} must be 1 to 64 characters")
        start = _in_range(self.start, "--start")
        end = _in_range(self.end, "--end")
        if end <= start:
            raise EventError(f"--end {end.isoformat()} must be after --start {start.isoformat()}")
        if not (math.isfinite(self.intensity) and 0.0 <= self.intensity <= 1.0):
            raise EventError(f"--intensity {self.intensity} is outside 0..1")


def _single_line(text: str | None, option: str) -> None:
    """Names, categories and sources are one line in every listing: a newline or other
    control character (which PostgreSQL refuses outright when it is NUL) is an error."""
    bad = next((c for c in text or "" if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise EventError(f"{option} {text!r} contains the control character {bad!r}")


def _in_range(value: datetime, option: str) -> datetime:
    """UTC, and inside the span features can represent (nanosecond timestamps: 1970..2261)."""
    try:
        moment = ensure_utc(value, option)
    except OutOfRangeError:
        moment = None
    if moment is None or not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise EventError(f"{option} {value.isoformat()} is outside {EARLIEST_YEAR}..{LATEST_YEAR}")
    return moment


def _refresh_for(session: Session, event: ExogenousEvent) -> None:
    # Feature at t sees events overlapping [t - 24h, t + 1h).
    lo = floor_hour(event.event_start)
    hi = floor_hour(event.event_end) + EVENT_LOOKBACK + HOUR
    accounts = (
        [a for a in list_accounts(session) if a.id == event.account_id]
        if event.account_id is not None
        else list_accounts(session)
    )
    for account in accounts:
        for rule in stored_rules(session, account.id):
            refresh_features(session, account.id, lo, hi, rule)


def add_event(session: Session, new: NewEvent) -> ExogenousEvent:
    """Validate and store an event, then refresh the features it affects."""
    new.validate()
    account_id = get_account(session, new.account).id if new.account else None
    event = ExogenousEvent(
        account_id=account_id,
        name=new.name.strip(),
        description=new.description,
        category=new.category,
        event_start=new.start,
        event_end=new.end,
        intensity=float(new.intensity),
        source=new.source,
    )
    session.add(event)
    session.flush()
    _refresh_for(session, event)
    return event


def list_events(session: Session) -> list[ExogenousEvent]:
    """Every event, oldest first."""
    return list(session.scalars(select(ExogenousEvent).order_by(ExogenousEvent.event_start)))


def delete_event(session: Session, event_id: int) -> ExogenousEvent:
    """Delete an event by id and refresh the features it affected."""
    # An id beyond BIGINT cannot exist, and the drivers raise OverflowError/DataError on it.
    event = session.get(ExogenousEvent, event_id) if 0 < event_id <= MAX_ROW_ID else None
    if event is None:
        raise EventError(f"no event with id {event_id}")
    session.delete(event)
    session.flush()
    _refresh_for(session, event)
    return event
