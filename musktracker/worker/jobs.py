"""The jobs the schedule runs, as plain functions of the settings, so Celery tasks and the
local runner call the very same code. Each job is idempotent: it recomputes state from the
stored posts inside one transaction per account, so a repeated or redelivered run writes
the same rows again instead of adding any.

`JOBS` is the registry, in run order within a slot (ingestion before buckets before
forecasts). The jobs of ingestion, forecasting, training, regimes and the signals outbox
live in `worker/pipeline_jobs.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery

from musktracker.accounts import list_accounts
from musktracker.config import Settings
from musktracker.db.session import get_engine, require_schema, session_scope
from musktracker.features.refresh import RefreshResult, rebuild_account, refresh_account
from musktracker.logging import get_logger
from musktracker.worker import pipeline_jobs, sentiment_jobs

log = get_logger(__name__)


class Slot(enum.StrEnum):
    """When a job runs; the times come from Settings (see worker/schedule.py)."""

    MINUTE = "minute"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def period_seconds(self) -> int:
        """How often the slot falls due."""
        return {"minute": 60, "hourly": 3600, "daily": 86_400, "weekly": 7 * 86_400}[self.value]


@dataclass(frozen=True)
class Job:
    name: str
    """Celery task name; also how `musktracker run --job` names it."""
    run: Callable[[Settings], dict[str, Any]]
    slots: tuple[Slot, ...]
    on_workers: Callable[[Settings, Celery], dict[str, Any]] | None = None
    """How a Celery worker runs the job instead, when it spreads the work over tasks."""


def _each_account(
    settings: Settings, step: Callable[..., RefreshResult | None], label: str
) -> dict[str, Any]:
    engine = get_engine(settings.database_url)
    require_schema(engine)
    with session_scope(engine) as session:
        accounts = [(a.id, a.username) for a in list_accounts(session)]
    written = 0
    for number, (account_id, username) in enumerate(accounts, start=1):
        with session_scope(engine) as session:
            result = step(session, account_id)
        written += result.features_written if result else 0
        log.info(
            label,
            account=username,
            progress=f"{number}/{len(accounts)}",
            hourly_span=[t.isoformat() for t in result.hourly_span] if result else None,
        )
    return {"accounts": len(accounts), "features_written": written}


def refresh_all_accounts(settings: Settings) -> dict[str, Any]:
    """Bring every account's buckets and features up to its newest post."""
    return _each_account(settings, refresh_account, "buckets refreshed")


def rebuild_all_accounts(settings: Settings) -> dict[str, Any]:
    """Recompute every account's buckets and features from its posts (daily, after the full
    ingestion, so deletions and late posts are reflected everywhere)."""
    return _each_account(settings, rebuild_account, "buckets rebuilt")


SENTIMENT_RETRAIN = "musktracker.sentiment.retrain"
SENTIMENT_CHECK_RETRAIN = "musktracker.sentiment.check_retrain"

JOBS: list[Job] = [
    Job("musktracker.outbox.dispatch", pipeline_jobs.dispatch_outbox, (Slot.MINUTE,)),
    Job("musktracker.ingest.incremental", pipeline_jobs.ingest_incremental, (Slot.HOURLY,)),
    Job("musktracker.ingest.full", pipeline_jobs.ingest_full, (Slot.DAILY,)),
    Job("musktracker.features.refresh_all", refresh_all_accounts, (Slot.HOURLY,)),
    Job("musktracker.features.rebuild_all", rebuild_all_accounts, (Slot.DAILY,)),
    Job("musktracker.forecasts.fill_actuals", pipeline_jobs.fill_all_actuals, (Slot.HOURLY,)),
    Job("musktracker.forecasts.hourly", pipeline_jobs.forecast_all, (Slot.HOURLY,)),
    Job("musktracker.regimes.check", pipeline_jobs.regimes_all, (Slot.DAILY,)),
    # Measures the retraining triggers; trains a challenger only when one fires. Shares the
    # on-demand job's locks, so the two never train at once.
    Job(SENTIMENT_CHECK_RETRAIN, sentiment_jobs.check_retrain_sentiment, (Slot.DAILY,)),
    Job("musktracker.training.backtest", pipeline_jobs.train_all, (Slot.WEEKLY,),
        on_workers=pipeline_jobs.train_all_on_workers),
    # On demand only (POST /v1/sentiment/retrain); no slot.
    Job(SENTIMENT_RETRAIN, sentiment_jobs.retrain_sentiment, ()),
]


def jobs_in(slot: Slot) -> list[Job]:
    return [job for job in JOBS if slot in job.slots]


def job_named(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    known = ", ".join(j.name for j in JOBS)
    raise ValueError(f"--job {name!r} is not a known job (known: {known})")
