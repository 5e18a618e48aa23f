"""The schedule: when slots fire, how they map onto Celery beat, and the job registry."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from musktracker.config import Settings
from musktracker.worker.celery_app import RUN_SLOT, create_celery
from musktracker.worker.jobs import JOBS, Slot, job_named, jobs_in
from musktracker.worker.local import due_slots, next_slot
from musktracker.worker.schedule import Cron, slot_crons


def test_defaults_match_the_original_design() -> None:
    crons = slot_crons(Settings())
    assert crons[Slot.DAILY] == Cron(minute=0, hour=2)
    assert crons[Slot.WEEKLY] == Cron(minute=0, hour=3, weekday=6)  # Sunday
    assert crons[Slot.HOURLY].hour is None
    assert crons[Slot.MINUTE] == Cron(minute=None)
    assert crons[Slot.MINUTE].to_celery().minute == set(range(60))


def test_next_after_walks_to_the_next_matching_minute() -> None:
    friday = datetime(2026, 11, 20, 2, 0, 30, tzinfo=UTC)
    assert Cron(minute=0, hour=2).next_after(friday) == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    sunday = Cron(minute=0, hour=3, weekday=6).next_after(friday)
    assert sunday == datetime(2026, 11, 22, 3, 0, tzinfo=UTC) and sunday.weekday() == 6
    assert Cron(minute=5).next_after(friday) == datetime(2026, 11, 20, 2, 5, tzinfo=UTC)


def test_celery_weekdays_count_from_sunday() -> None:
    beat = Cron(minute=0, hour=3, weekday=6).to_celery()
    assert beat.day_of_week == {0}  # Celery: 0 is Sunday
    assert Cron(minute=0, hour=3, weekday=0).to_celery().day_of_week == {1}  # Monday


def test_next_slot_reports_every_slot_due_that_minute() -> None:
    settings = Settings(worker_hourly_minute=0)
    at, slots = next_slot(settings, datetime(2026, 11, 22, 2, 59, tzinfo=UTC))
    assert at == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert set(slots) == {Slot.MINUTE, Slot.HOURLY, Slot.WEEKLY}
    at, slots = next_slot(settings, datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    assert at == datetime(2026, 11, 22, 3, 1, tzinfo=UTC) and slots == [Slot.MINUTE]


def test_slots_missed_during_a_long_job_are_due_once_each() -> None:
    """The weekly training ran from Sunday 03:00 to 03:40: the 03:05 hourly slot and forty
    minute slots fell due meanwhile; each slot runs once, late."""
    settings = Settings()
    started = datetime(2026, 11, 22, 3, 0, 0, 200000, tzinfo=UTC)
    ended = datetime(2026, 11, 22, 3, 40, 12, tzinfo=UTC)
    assert due_slots(settings, started, ended) == [Slot.MINUTE, Slot.HOURLY]
    assert due_slots(settings, started, started.replace(second=59)) == []
    week_later = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert due_slots(settings, started, week_later) == list(Slot)


def test_registry_and_celery_app_agree() -> None:
    assert [j.name for j in jobs_in(Slot.HOURLY)] == [
        "musktracker.ingest.incremental",
        "musktracker.features.refresh_all",
        "musktracker.forecasts.fill_actuals",
        "musktracker.forecasts.hourly",
    ]
    assert [j.name for j in jobs_in(Slot.DAILY)] == [
        "musktracker.ingest.full", "musktracker.features.rebuild_all", "musktracker.regimes.check",
        "musktracker.sentiment.check_retrain",
    ]
    assert [j.name for j in jobs_in(Slot.WEEKLY)] == ["musktracker.training.backtest"]
    assert [j.name for j in jobs_in(Slot.MINUTE)] == ["musktracker.outbox.dispatch"]
    with pytest.raises(ValueError, match="not a known job"):
        job_named("musktracker.nothing")
    app = create_celery(Settings(worker_task_time_limit=100, worker_visibility_timeout=200))
    for job in JOBS:
        task = app.tasks[job.name]
        assert task.acks_late and task.reject_on_worker_lost and task.max_retries == 5
    assert app.conf.broker_transport_options == {"visibility_timeout": 200}
    assert app.conf.task_time_limit == 100
    entries = app.conf.beat_schedule
    assert {e["task"] for e in entries.values()} == {RUN_SLOT}
    assert sorted(e["args"][0] for e in entries.values()) == ["daily", "hourly", "minute", "weekly"]
    # A slot queued while the workers are down waits until its next one is due.
    assert {e["args"][0]: e["options"]["expires"] for e in entries.values()} == {
        "minute": 60, "hourly": 3600, "daily": 86_400, "weekly": 604_800
    }


def test_each_celery_app_runs_its_own_tasks() -> None:
    """A second app in one process (the API's, a test's) must not run the first app's
    closures, which hold the first app and its broker."""
    first = create_celery(Settings(redis_url="redis://localhost:6379/1"))
    second = create_celery(Settings(redis_url="redis://localhost:6379/2"))
    for name in (RUN_SLOT, *(job.name for job in JOBS)):
        run = inspect.unwrap(second.tasks[name].run)  # under the retry wrapper
        assert run is not inspect.unwrap(first.tasks[name].run)
        assert any(cell.cell_contents is second for cell in run.__closure__ or ()), name
