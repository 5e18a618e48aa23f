"""When each slot fires, in UTC, from Settings: one definition for Celery beat and for the
local runner, so both keep the same schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.schedules import crontab

from musktracker.config import Settings
from musktracker.utc import ensure_utc
from musktracker.worker.jobs import Slot

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Cron:
    """A minute of the hour (None: every minute), optionally an hour of the day and a
    weekday (0=Monday)."""

    minute: int | None
    hour: int | None = None
    weekday: int | None = None

    def matches(self, when: datetime) -> bool:
        return (
            (self.minute is None or when.minute == self.minute)
            and (self.hour is None or when.hour == self.hour)
            and (self.weekday is None or when.weekday() == self.weekday)
        )

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after `when` (UTC)."""
        at = ensure_utc(when).replace(second=0, microsecond=0) + _MINUTE
        for _ in range(8 * 24 * 60):
            if self.matches(at):
                return at
            at += _MINUTE
        raise AssertionError(f"{self} never fires")  # unreachable: every cron fires weekly

    def to_celery(self) -> crontab:
        return crontab(
            minute="*" if self.minute is None else str(self.minute),
            hour="*" if self.hour is None else str(self.hour),
            # Celery counts weekdays from Sunday = 0; Python from Monday = 0.
            day_of_week="*" if self.weekday is None else str((self.weekday + 1) % 7),
        )


def slot_crons(settings: Settings) -> dict[Slot, Cron]:
    """Every minute (outbox delivery); hourly at WORKER_HOURLY_MINUTE; daily full work at
    WORKER_FULL_INGEST_HOUR:00; weekly training on WORKER_TRAINING_WEEKDAY at
    WORKER_TRAINING_HOUR:00."""
    return {
        Slot.MINUTE: Cron(minute=None),
        Slot.HOURLY: Cron(minute=settings.worker_hourly_minute),
        Slot.DAILY: Cron(minute=0, hour=settings.worker_full_ingest_hour),
        Slot.WEEKLY: Cron(
            minute=0, hour=settings.worker_training_hour, weekday=settings.worker_training_weekday
        ),
    }
