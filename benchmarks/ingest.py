"""Posts per second from the X API emulator into SQLite and PostgreSQL.

The emulator serves the real @elonmusk file on loopback without rate limits or faults and
with the timeline cap lifted, so the API is not the limit; a backfill of `--days` days then
runs through the real client and pipeline (100 posts a page, one transaction per page).
Prints one table: the API-only rate (client and emulator, no database), where a backfill's
time goes (API calls, storing pages with their checkpoints, the final bucket and feature
refresh), the store rate (posts per second of storing, i.e. with an API that is not the
limit), the same per CPU-second of this process (what an unloaded core would reach; for
PostgreSQL the server's own work is not included) and the end-to-end rate. Goal: a store
rate of at least 5,000 posts/s. The machine and the load average are printed with the table.

    .venv/bin/python -m benchmarks.ingest [--days 120] [--posts FILE] [--postgres-url URL]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    DATABASES,
    POSTGRES_URL,
    POSTS,
    count_rows,
    data_file,
    data_line,
    machine,
    make_parser,
    positive_int,
    scratch_database,
)
from musktracker.accounts import add_account
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope
from musktracker.ingest.client import XClient
from musktracker.ingest.emulator import EmulatorOptions, XEmulator, load_account
from musktracker.ingest.pipeline import Ingestor
from musktracker.ingest.responses import TweetPage
from musktracker.ingest.snowflake import snowflake_floor


def fetch_only(base_url: str, now: datetime, days: int) -> tuple[int, float]:
    """Walk the same pages with the client alone: the API side's own speed. The first walk
    is an untimed warm-up (connection, the emulator's first pages): timed cold, 10 days
    measured 1,252 posts/s against 6,000 inside the backfill that followed."""
    since = str(snowflake_floor(now - timedelta(days=days)))

    def walk(client: XClient) -> int:
        posts, token = 0, None
        while True:
            page = client.user_timeline("44196397", since_id=since, pagination_token=token)
            posts += len(page.data)
            token = page.meta.next_token
            if token is None:
                return posts

    with XClient(base_url, "bench") as client:
        walk(client)
        start = time.perf_counter()
        posts = walk(client)
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


def _serve(started: Any, posts: Path) -> None:
    emulator = XEmulator(
        [load_account(f"elonmusk={posts}")],
        EmulatorOptions(timeline_cap=10**9, rate_limit=10**9),
    )
    started.put((emulator.bind(), emulator.now))
    emulator.serve_forever()


def start_emulator(posts: Path) -> tuple[str, datetime, BaseProcess]:
    """The emulator in its own process (its own GIL), as a remote API would be."""
    context = multiprocessing.get_context("fork")
    started = context.Queue()
    server = context.Process(target=_serve, args=(started, posts), daemon=True)
    server.start()
    base_url, now = started.get(timeout=120)
    return base_url, now, server


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--days", type=positive_int, default=120, help="days to backfill")
    parser.add_argument("--posts", type=data_file, default=str(POSTS), help="archive served")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="server whose database gets a scratch schema"
    )
    args = parser.parse_args(argv)
    console = Console(width=200)
    print(machine())
    print(data_line(args.posts, count_rows(args.posts), "posts"))

    base_url, now, server = start_emulator(args.posts)
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
        for name in DATABASES:
            with scratch_database(name, args.postgres_url) as url:
                if url is None:
                    continue
                run = ingest_once(base_url, url, args.days)
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
    console.print(table)
    console.print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
