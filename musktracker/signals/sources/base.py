"""The adapter interface every polling source implements.

`fetch` reads what is new and returns it normalized to `RawEvent` (validated by pydantic);
`commit` records how far it read, and is called inside the transaction that stores the
resulting signals, so a crash never skips nor repeats a batch. Sources that re-read a
lookback window instead of keeping a checkpoint leave `commit` empty and rely on dedup by
source id.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.dialect import upsert
from musktracker.db.models import SignalCheckpoint
from musktracker.signals.event import RawEvent
from musktracker.utc import utcnow


class Source(Protocol):
    name: str
    more: bool
    """True when the last fetch stopped at its batch size and more rows are waiting."""

    def fetch(self, session: Session) -> list[RawEvent]: ...

    def commit(self, session: Session) -> None: ...


def read_checkpoint(session: Session, source: str) -> str | None:
    return session.scalar(
        select(SignalCheckpoint.position).where(SignalCheckpoint.source == source)
    )


def write_checkpoint(session: Session, source: str, position: str) -> None:
    row = {"source": source, "position": position, "updated_at": utcnow()}
    upsert(session, SignalCheckpoint, [row], key=["source"], update=["position", "updated_at"])

