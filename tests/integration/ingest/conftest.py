"""Fixtures for ingestion tests: three weeks of real @elonmusk posts served by the X API
emulator on loopback, and helpers to run the real CLI and snapshot the database."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from musktracker.accounts import add_account
from musktracker.db.models import Account, RawTweet
from musktracker.db.session import session_scope
from musktracker.ingest.emulator import EmulatorOptions, Faults, XEmulator, load_account
from musktracker.utc import parse_utc

WEEKS_START = "2024-10-10T00:00:00.000Z"
WEEKS_END = "2024-10-31T00:00:00.000Z"
REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Weeks:
    """The served archive and what a 7-day backfill must store."""

    path: Path
    posts: dict[str, datetime]

    def window(self, now: datetime, days: int = 7) -> dict[str, datetime]:
        lower = now - timedelta(days=days)
        return {i: t for i, t in self.posts.items() if lower <= t <= now}


def _slice(src: Path, dst: Path, keep: Callable[[int], bool] = lambda _i: True) -> Weeks:
    dst.parent.mkdir(parents=True, exist_ok=True)
    posts: dict[str, datetime] = {}
    with src.open() as inp, dst.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["tweet_id", "created_at"])
        for n, row in enumerate(csv.DictReader(inp)):
            if WEEKS_START <= row["created_at"] < WEEKS_END and keep(n):
                writer.writerow([row["tweet_id"], row["created_at"]])
                posts[row["tweet_id"]] = parse_utc(row["created_at"])
    return Weeks(dst, posts)


@pytest.fixture(scope="session")
def weeks(tmp_path_factory: pytest.TempPathFactory, posts_csv: Path) -> Weeks:
    """Three weeks of real posts (October 2024, about 2,300)."""
    return _slice(posts_csv, tmp_path_factory.mktemp("weeks") / "elonmusk" / "posts.csv")


@pytest.fixture(scope="session")
def split_weeks(tmp_path_factory: pytest.TempPathFactory, posts_csv: Path) -> tuple[Weeks, Weeks]:
    """The same weeks dealt to two accounts (even and odd rows) for multi-account tests."""
    root = tmp_path_factory.mktemp("split")
    return (
        _slice(posts_csv, root / "elonmusk" / "posts.csv", lambda n: n % 2 == 0),
        _slice(posts_csv, root / "spacex" / "posts.csv", lambda n: n % 2 == 1),
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., XEmulator]]:
    """Start emulators over archives; all are stopped after the test."""
    started: list[XEmulator] = []

    def start(*archives: Path, **options: Any) -> XEmulator:
        """Options are EmulatorOptions or Faults fields."""
        fault_names = {f.name for f in fields(Faults)}
        faults = Faults(**{k: v for k, v in options.items() if k in fault_names})
        rest = {k: v for k, v in options.items() if k not in fault_names}
        emulator = XEmulator(
            [load_account(str(p)) for p in archives], EmulatorOptions(faults=faults, **rest)
        )
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


FAST_SETTINGS = {
    "X_BEARER_TOKEN": "test-token",
    "X_API_BACKOFF_SECONDS": "0.05",
    "X_API_TIMEOUT_SECONDS": "5",
    "X_STREAM_STALL_SECONDS": "0.6",
    "X_STREAM_BACKOFF_SCALE": "0.01",
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture
def serve_cli(
    cli_env: str, serve: Callable[..., XEmulator], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., XEmulator]:
    """Start an emulator (as `serve`) and point the in-process CLI at it with short waits."""

    def start(*archives: Path, **options: Any) -> XEmulator:
        emulator = serve(*archives, **options)
        for key, value in FAST_SETTINGS.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("X_API_BASE_URL", emulator.base_url)
        from musktracker.config import get_settings

        get_settings.cache_clear()
        return emulator

    return start


def flat(output: str) -> str:
    """CLI output with its line wrapping undone, so a message can be matched whole."""
    return " ".join(output.split())


def subprocess_env(db_url: str, emulator: XEmulator) -> dict[str, str]:
    """Environment for running the CLI as a separate process against the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "DATABASE_"))}
    env.update(FAST_SETTINGS)
    env.update({"DATABASE_URL": db_url, "X_API_BASE_URL": emulator.base_url})
    return env


INGEST_CMD = [sys.executable, "-m", "musktracker.cli.ingest"]


def track(engine: Engine, *names: str) -> None:
    with session_scope(engine) as session:
        for name in names:
            add_account(session, name, "44196397" if name == "elonmusk" else None)


SNAPSHOT_QUERIES = {
    "raw_tweets": "SELECT account_id, tweet_id, created_at, kind, is_deleted, text "
    "FROM raw_tweets ORDER BY account_id, tweet_id",
    "time_buckets": "SELECT account_id, granularity, bucket_start, tweet_count, original_count, "
    "reply_count, quote_count, repost_count FROM time_buckets "
    "ORDER BY account_id, granularity, bucket_start",
    "features": "SELECT account_id, count_rule, reference_time, lag_1h, lag_24h, lag_7d, "
    "rolling_mean_24h FROM features ORDER BY account_id, count_rule, reference_time",
    "ingest_state": "SELECT account_id, endpoint, newest_id, oldest_id, pagination_token "
    "FROM ingest_state ORDER BY account_id, endpoint",
    "accounts": "SELECT id, username, x_user_id FROM accounts ORDER BY id",
}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that matters (not timestamps of when things were computed)."""
    with engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(text(sql))]
            for name, sql in SNAPSHOT_QUERIES.items()
        }


def stored_posts(engine: Engine, username: str = "elonmusk") -> dict[str, datetime]:
    """tweet_id -> created_at (aware UTC) of an account's stored posts."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(RawTweet.tweet_id, RawTweet.created_at)
            .join(Account, Account.id == RawTweet.account_id)
            .where(Account.username == username)
        ).all()
    return {tweet_id: created for tweet_id, created in rows}
