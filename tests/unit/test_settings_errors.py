"""A configuration error names the bad settings without printing the others' values."""

from __future__ import annotations

import os

import pytest

from musktracker.config import SettingsError, load_settings


def test_a_rule_across_settings_does_not_print_every_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pydantic reports a model-level rule with the whole input as its value: every setting
    read, the database password and the X token included."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:hunter2@db.example/musktracker")
    monkeypatch.setenv("X_BEARER_TOKEN", "secret-token-123")
    monkeypatch.setenv("WORKER_TASK_TIME_LIMIT", "9000")
    monkeypatch.setenv("WORKER_VISIBILITY_TIMEOUT", "7200")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message == (
        "invalid configuration: WORKER_VISIBILITY_TIMEOUT=7200 must exceed "
        "WORKER_TASK_TIME_LIMIT=9000, or Redis redelivers tasks that are still running"
    )
    assert "hunter2" not in message and "secret-token-123" not in message


def test_an_outbox_lease_within_the_http_timeout_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "10")
    monkeypatch.setenv("OUTBOX_HTTP_TIMEOUT_SECONDS", "10")
    with pytest.raises(SettingsError, match=r"^invalid configuration: OUTBOX_LEASE_SECONDS=10 "
                       r"must exceed OUTBOX_HTTP_TIMEOUT_SECONDS=10, or another dispatcher"):
        load_settings()
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "10.5")
    assert load_settings().outbox_lease_seconds == 10.5


def test_a_bad_setting_is_named_with_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_HOURLY_MINUTE", "99")
    monkeypatch.setenv("X_BEARER_TOKEN", "secret-token-123")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "WORKER_HOURLY_MINUTE='99': Input should be less than or equal to 59" in str(
        raised.value
    )
    assert "secret-token-123" not in str(raised.value)


@pytest.mark.parametrize(("value", "number"), [("Sunday", 6), ("mon", 0), (" FRI ", 4), ("3", 3)])
def test_the_training_weekday_takes_a_name_or_a_number(
    monkeypatch: pytest.MonkeyPatch, value: str, number: int
) -> None:
    monkeypatch.setenv("WORKER_TRAINING_WEEKDAY", value)
    assert load_settings().worker_training_weekday == number


@pytest.mark.parametrize("value", ["someday", "7", "-1", "3.5"])
def test_a_weekday_that_is_not_monday_to_sunday_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """7 is cron's Sunday, but this setting counts from Monday = 0: it is refused with a
    message saying what is accepted, not pydantic's bare 'less than or equal to 6'."""
    monkeypatch.setenv("WORKER_TRAINING_WEEKDAY", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        f"invalid configuration: WORKER_TRAINING_WEEKDAY={value!r}: {value!r} is not a day of "
        "the week: use a name (monday..sunday, mon..sun) or a number 0..6 with 0 = Monday and "
        "6 = Sunday (not cron's numbering, where 0 and 7 are Sunday)"
    )


def test_more_torch_threads_than_cores_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread count beyond the cores this process may use is named with the limit,
    instead of starting that many threads that only wait for a core."""
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("SENTIMENT_TORCH_THREADS", str(cores))
    assert load_settings().sentiment_torch_threads == cores
    monkeypatch.setenv("SENTIMENT_TORCH_THREADS", "64000")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(
        f"invalid configuration: SENTIMENT_TORCH_THREADS='64000': 64000 threads is more than "
        f"the {cores} CPU "
    )
