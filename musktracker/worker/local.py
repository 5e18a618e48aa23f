"""The schedule in one process, without Redis or Celery (`musktracker run`): sleep until
the next slot fires, then call its jobs in order, directly. For a laptop or a single small
server; with REDIS_URL set, use `musktracker worker` and `musktracker beat` instead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from musktracker.config import Settings
from musktracker.logging import get_logger
from musktracker.utc import utcnow
from musktracker.worker.jobs import Job, Slot, jobs_in
from musktracker.worker.locks import LockBusyError
from musktracker.worker.schedule import slot_crons

log = get_logger(__name__)


def run_jobs(settings: Settings, jobs: list[Job]) -> dict[str, Any]:
    """Run jobs in order; a failed job, or one another process is already doing, is logged
    and stops the rest of the slot, as a Celery chain would. Returns each finished job's
    result by name."""
    results: dict[str, Any] = {}
    for job in jobs:
        log.info("job started", job=job.name)
        try:
            results[job.name] = job.run(settings)
        except LockBusyError as exc:  # another process is doing this work: no traceback
            log.warning("job not run", job=job.name, reason=str(exc))
            break
        except Exception:  # a failing job must not end the scheduler; the next slot retries
            log.exception("job failed", job=job.name)
            break
        log.info("job finished", job=job.name, result=results[job.name])
    return results


def next_slot(settings: Settings, now: datetime) -> tuple[datetime, list[Slot]]:
    """When the next slot fires and every slot firing at that minute."""
    upcoming = {slot: cron.next_after(now) for slot, cron in slot_crons(settings).items()}
    first = min(upcoming.values())
    return first, [slot for slot, at in upcoming.items() if at == first]


def due_slots(settings: Settings, last: datetime, now: datetime) -> list[Slot]:
    """Every slot that fired after `last` up to `now`, once each however often it fired:
    jobs run one after another here, so slots falling due while a long job ran (the weekly
    training, a sentiment retraining) run late when it ends rather than not at all, as
    beat would queue them for a busy worker."""
    return [
        slot for slot, cron in slot_crons(settings).items() if cron.next_after(last) <= now
    ]


def run_forever(
    settings: Settings,
    stop: threading.Event,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Fire slots on schedule until `stop` is set."""
    last = clock()
    while not stop.is_set():
        at, slots = next_slot(settings, last)
        log.info("waiting for slot", slots=[s.value for s in slots], at=at.isoformat())
        while not stop.is_set() and clock() < at:
            stop.wait(min(30.0, max(0.05, (at - clock()).total_seconds())))
        if stop.is_set():
            return
        now = clock()
        due = due_slots(settings, last, now)
        if now - at >= timedelta(minutes=1):
            log.warning("slots late: a job ran past their time", slots=[s.value for s in due],
                        due_since=at.isoformat())
        last = now
        for slot in due:
            run_jobs(settings, jobs_in(slot))
