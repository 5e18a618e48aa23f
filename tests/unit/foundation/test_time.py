from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from musktracker.ingest.snowflake import snowflake_time
from musktracker.utc import NaiveDatetimeError, ensure_utc, floor_day, floor_hour, parse_utc


def test_naive_datetime_is_an_error() -> None:
    with pytest.raises(NaiveDatetimeError, match="has no time zone"):
        ensure_utc(datetime(2024, 1, 1, 12))


def test_offsets_are_converted_to_utc() -> None:
    local = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-8)))
    assert ensure_utc(local) == datetime(2024, 1, 1, 20, tzinfo=UTC)
    assert parse_utc("2024-01-01T12:00:00-08:00").hour == 20
    assert parse_utc("2024-01-01T12:00:00.123Z").microsecond == 123000


@pytest.mark.parametrize("text", ["2024-01-01 12:00:00", "yesterday", "2024-13-01T00:00:00Z"])
def test_parse_utc_rejects_naive_and_malformed(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(")[:10]):
        parse_utc(text, "created_at")


@pytest.mark.parametrize("text", ["9999-12-31T20:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_times_outside_the_utc_range_are_value_errors(text: str) -> None:
    # OverflowError would escape pydantic's validation and become a 500 in the API.
    with pytest.raises(ValueError, match=r"created_at .* is out of range in UTC"):
        parse_utc(text, "created_at")


def test_floors() -> None:
    t = datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    assert floor_hour(t) == datetime(2024, 5, 6, 7, tzinfo=UTC)
    assert floor_day(t) == datetime(2024, 5, 6, tzinfo=UTC)


def test_snowflake_time_matches_the_real_data(posts_csv: Path) -> None:
    with posts_csv.open() as handle:
        rows = list(csv.DictReader(handle))[::5000]
    for row in rows:
        assert snowflake_time(int(row["tweet_id"])) == parse_utc(row["created_at"])


def test_pre_snowflake_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="predates snowflake"):
        snowflake_time(12345)
