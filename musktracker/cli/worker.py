"""`musktracker worker`, `musktracker beat` and `musktracker run`: the recurring work, on
Celery with Redis, or in one process without it."""

from __future__ import annotations

import signal
import threading

import typer
from rich.markup import escape

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, fail, handle_errors, settings
from musktracker.worker.jobs import JOBS, Slot, job_named, jobs_in
from musktracker.worker.local import run_forever, run_jobs
from musktracker.worker.pipeline_jobs import check_model_settings

app = typer.Typer()


def _need_redis(command: str) -> None:
    """Refuse to start without a broker, or with model settings the jobs would fail on
    hours or days later."""
    check_model_settings(settings())
    if not settings().redis_url:
        raise fail(
            f"`musktracker {command}` needs REDIS_URL (the Celery broker); "
            "without Redis, `musktracker run` runs the same schedule in one process"
        )


@app.command("worker")
@handle_errors
def worker(
    concurrency: int = typer.Option(2, "--concurrency", min=1, help="Tasks run at once."),
    queues: str = typer.Option("celery", "--queues", help="Comma list of queues to consume."),
) -> None:
    """Run a Celery worker that executes queued jobs (needs REDIS_URL).

    Example: musktracker worker --concurrency 2
    """
    _need_redis("worker")
    # Check the schema, then close every pooled connection: pool processes are forked from
    # this one, and a connection shared across a fork corrupts both ends.
    database().dispose()
    from musktracker.worker.celery_app import app as celery_app

    celery_app.worker_main(
        ["worker", f"--concurrency={concurrency}", f"--queues={queues}", "--loglevel=INFO"]
    )


@app.command("beat")
@handle_errors
def beat(
    schedule_file: str = typer.Option(
        "celerybeat-schedule", "--schedule-file", help="Where beat remembers last run times."
    ),
) -> None:
    """Run Celery beat, which queues each slot's jobs on schedule (needs REDIS_URL; run one).

    Example: musktracker beat
    """
    _need_redis("beat")
    from musktracker.worker.celery_app import app as celery_app

    celery_app.start(["beat", f"--schedule={schedule_file}", "--loglevel=INFO"])


@app.command("run")
@handle_errors
def run(
    once: Slot | None = typer.Option(
        None, "--once", help="Run this slot's jobs now and exit instead of following the schedule."
    ),
    job: str | None = typer.Option(
        None, "--job", help=f"Run only this job now and exit: {', '.join(j.name for j in JOBS)}."
    ),
) -> None:
    """Run the schedule in this process, without Redis or Celery.

    Slots (UTC, from the WORKER_* settings): every minute the outbox; hourly at
    WORKER_HOURLY_MINUTE ingestion, buckets and forecasts; daily at WORKER_FULL_INGEST_HOUR:00
    the full re-ingestion, rebuild, regimes and sentiment check; weekly on
    WORKER_TRAINING_WEEKDAY at WORKER_TRAINING_HOUR:00 the backtests. Needs a migrated
    database.

    Example: musktracker run --once hourly
    """
    current = settings()
    check_model_settings(current)
    if job is not None and once is not None:
        raise fail("--once and --job exclude each other: --once runs a slot, --job one job")
    database()
    if job is not None or once is not None:
        try:
            jobs = [job_named(job)] if job is not None else jobs_in(once or Slot.HOURLY)
        except ValueError as exc:
            raise fail(str(exc)) from None
        results = run_jobs(current, jobs)
        for name in (j.name for j in jobs):
            console.print(f"{name}: {escape(str(results.get(name, 'not done (see the log)')))}")
        if len(results) < len(jobs):
            raise typer.Exit(1)
        return
    console.print(f"running the schedule in-process ({len(JOBS)} jobs); Ctrl-C stops")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_forever(current, stop)


if __name__ == "__main__":
    run_module(app)
