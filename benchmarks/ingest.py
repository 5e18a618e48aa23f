"""Posts per second from the X API emulator into SQLite and PostgreSQL.

The emulator serves the real @elonmusk file on loopback without rate limits or faults and
with the timeline cap lifted, so the API is not the limit; a backfill of `--days` days then
runs through the real client and pipeline (100 posts a page, one transaction per page).
Prints one table: the API-only rate (client and emulator, no database), where a backfill's
time goes (API calls, storing pages with their checkpoints, the final bucket and feature
refresh), the store rate (posts per second of storing, i.e. with an API that is not the
limit), the same per CPU-second of this process (what an unloaded core would reach; for
PostgreSQL the server's own work is not included) and the end-to-end rate. Goal: a store
rate of at least 5,000 posts/s. The load average is printed with the table.

    .venv/bin/python -m benchmarks.ingest [--days 120] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from musktracker.accounts import add_account
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope
from musktracker.ingest.client import XClient
from musktracker.ingest.emulator import EmulatorOptions, XEmulator, load_account
from musktracker.ingest.pipeline import Ingestor
from musktracker.ingest.responses import TweetPage
from musktracker.ingest.snowflake import snowflake_floor

POSTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "elonmusk" / "posts.csv"
PG_URL = os.environ.get(
    "MUSKTRACKER_TEST_POSTGRES_URL",
    "postgresql+psycopg://musktracker:musktracker@localhost:5432/musktracker_test",
)


def fetch_only(base_url: str, now: datetime, days: int) -> tuple[int, float]:
    """Walk the same pages with the client alone: the API side's own speed."""
    since = str(snowflake_floor(now - timedelta(days=days)))
    posts, token = 0, None
    start = time.perf_counter()
    with XClient(base_url, "bench") as client:
        while True:
            page = client.user_timeline("44196397", since_id=since, pagination_token=token)
            posts += len(page.data)
            token = page.meta.next_token
            if token is None:
                return posts, time.perf_counter() - start


class Clocks:
    """Wall time and this process's CPU time, so a busy machine can be told apart."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def add(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


class TimedClient(XClient):
    """Adds up the time spent in API calls (request, response and validation)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api = Clocks()

    def user_timeline(self, user_id: str, **kwargs: Any) -> TweetPage:
        with Stopwatch() as watch:
            page = super().user_timeline(user_id, **kwargs)
        self.api.add(watch.wall, watch.cpu)
        return page


class TimedIngestor(Ingestor):
    """Times the bucket and feature refresh made in the run's last transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refresh = Clocks()

    def _refresh(self, *args: Any, **kwargs: Any) -> None:
        with Stopwatch() as watch:
            super()._refresh(*args, **kwargs)
        self.refresh.add(watch.wall, watch.cpu)


@dataclass(frozen=True)
class Run:
    posts: int
    pages: int
    total: Stopwatch
    api: Clocks
    refresh: Clocks

    @property
    def store(self) -> float:
        """Seconds storing pages and checkpoints: all but the API calls and the refresh."""
        return self.total.wall - self.api.wall - self.refresh.wall

    @property
    def store_cpu(self) -> float:
        return self.total.cpu - self.api.cpu - self.refresh.cpu


def ingest_once(base_url: str, url: str, days: int) -> Run:
    """Backfill into a fresh database through the real pipeline."""
    migrate.upgrade(url)
    engine = get_engine(url)
    with session_scope(engine) as session:
        add_account(session, "elonmusk", "44196397")
    with TimedClient(base_url, "bench") as client:
        ingestor = TimedIngestor(engine, client)
        with Stopwatch() as total:
            report = ingestor.ingest_account("elonmusk", days)
    return Run(report.inserted, report.pages, total, client.api, ingestor.refresh)


def _serve(started: Any) -> None:
    emulator = XEmulator(
        [load_account(f"elonmusk={POSTS}")],
        EmulatorOptions(timeline_cap=10**9, rate_limit=10**9),
    )
    started.put((emulator.bind(), emulator.now))
    emulator.serve_forever()


def start_emulator() -> tuple[str, datetime, BaseProcess]:
    """The emulator in its own process (its own GIL), as a remote API would be."""
    context = multiprocessing.get_context("fork")
    started = context.Queue()
    server = context.Process(target=_serve, args=(started,), daemon=True)
    server.start()
    base_url, now = started.get(timeout=120)
    return base_url, now, server


def postgres_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--postgres-url", default=PG_URL)
    args = parser.parse_args()

    base_url, now, server = start_emulator()
    table = Table(
        "database",
        "posts",
        "pages",
        "API only (posts/s)",
        "API calls (s)",
        "store pages (s)",
        "refresh (s)",
        "store (posts/s)",
        "store (posts/CPU-s)",
        "end to end (posts/s)",
        title=f"Backfill of {args.days} days of real @elonmusk posts from the emulator",
    )
    fetched, fetch_s = fetch_only(base_url, now, args.days)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            targets: list[tuple[str, str, str | None]] = [
                ("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", None)
            ]
            try:
                pg, schema = postgres_url(args.postgres_url)
                targets.append(("PostgreSQL", pg, schema))
            except Exception as exc:  # benchmark still reports SQLite without a server
                Console().print(f"[yellow]PostgreSQL skipped: {exc.__class__.__name__}")
            for name, url, schema_name in targets:
                try:
                    run = ingest_once(base_url, url, args.days)
                finally:
                    get_engine(url).dispose()
                    if schema_name is not None:
                        drop_schema(args.postgres_url, schema_name)
                assert run.posts == fetched, (run.posts, fetched)
                table.add_row(
                    name,
                    f"{run.posts:,}",
                    str(run.pages),
                    f"{fetched / fetch_s:,.0f}",
                    f"{run.api.wall:.2f}",
                    f"{run.store:.2f}",
                    f"{run.refresh.wall:.2f}",
                    f"{run.posts / run.store:,.0f}",
                    f"{run.posts / run.store_cpu:,.0f}",
                    f"{run.posts / run.total.wall:,.0f}",
                )
    finally:
        server.terminate()
        server.join()
    Console(width=200).print(table)
    Console().print(f"load average during the run: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
