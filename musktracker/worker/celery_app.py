"""The Celery app: Redis broker and result backend from REDIS_URL, one task per job, and
a beat entry per slot that runs the slot's jobs in order as a chain.

Delivery is at least once: tasks are acknowledged only after they finish (`acks_late`),
a task whose worker dies is re-queued (`task_reject_on_worker_lost`), and Redis redelivers
an unacknowledged task after `visibility_timeout`, which Settings keeps above the task time
limit so a task still running is never handed to a second worker. Jobs are idempotent, so a
second run writes the same rows, never duplicates.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from celery import Celery, Task, chain
from sqlalchemy.exc import DBAPIError

from musktracker.config import Settings, get_settings
from musktracker.logging import get_logger
from musktracker.worker.backtest_tasks import (
    COLLECT_TASK,
    WINDOW_TASK,
    collect_training,
    run_window_task,
)
from musktracker.worker.jobs import JOBS, Job, Slot, jobs_in
from musktracker.worker.schedule import slot_crons

log = get_logger(__name__)

RUN_SLOT = "musktracker.run_slot"

# Failures worth another try: the database or Redis briefly away, a lock or unique-key
# clash with a concurrent run of the same job.
RETRY_ON: tuple[type[Exception], ...] = (DBAPIError, redis.exceptions.ConnectionError)

TASK_OPTIONS: dict[str, Any] = {
    # Each app keeps its own tasks: a shared task is copied into every later app of the
    # process, whose own closures (over its settings and broker) would then be ignored.
    "shared": False,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRY_ON,
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


def _register(app: Celery, job: Job) -> Task[Any, Any]:
    def run_job() -> dict[str, Any]:
        if job.on_workers is not None:
            return job.on_workers(get_settings(), app)
        return job.run(get_settings())

    run_job.__doc__ = job.run.__doc__
    task: Task[Any, Any] = app.task(name=job.name, **TASK_OPTIONS)(run_job)
    return task


def create_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (a memory broker when REDIS_URL is unset, so the
    module imports anywhere; `musktracker worker` refuses to start without Redis)."""
    broker = settings.redis_url or "memory://"
    app = Celery("musktracker", broker=broker, backend=settings.redis_url or "cache+memory://")
    transport = {"visibility_timeout": settings.worker_visibility_timeout}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.worker_task_time_limit,
        task_soft_time_limit=max(1, int(settings.worker_task_time_limit * 0.9)),
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            f"slot-{slot.value}": {
                "task": RUN_SLOT,
                "schedule": cron.to_celery(),
                "args": (slot.value,),
                # Queued slots wait out a worker outage until their next one is due, which
                # does the same work (a flat hour dropped the daily and weekly slots).
                "options": {"expires": slot.period_seconds},
            }
            for slot, cron in slot_crons(settings).items()
        },
    )
    for job in JOBS:
        _register(app, job)
    app.task(name=WINDOW_TASK, **TASK_OPTIONS)(run_window_task)
    app.task(name=COLLECT_TASK, **TASK_OPTIONS)(collect_training)

    def run_slot(slot: str) -> list[str]:
        """Queue the slot's jobs as a chain: each starts after the previous succeeded."""
        jobs = jobs_in(Slot(slot))
        if jobs:
            chain(*(app.signature(job.name, immutable=True) for job in jobs)).apply_async()
        log.info("slot queued", slot=slot, jobs=[job.name for job in jobs])
        return [job.name for job in jobs]

    app.task(name=RUN_SLOT, **TASK_OPTIONS)(run_slot)
    return app


app = create_celery(get_settings())
