"""Time to import the shared @elonmusk file and compute buckets and features, on SQLite and
PostgreSQL. Prints one table; goal on a 2-core machine: import + buckets < 10 s, with
features < 20 s.

    .venv/bin/python -m benchmarks.import_pipeline [--runs 3] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from musktracker.accounts import add_account
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope
from musktracker.features.buckets import refresh_buckets
from musktracker.features.build import refresh_after_buckets
from musktracker.ingest.archive import parse_archive
from musktracker.ingest.store import store_posts

POSTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "elonmusk" / "posts.csv"
STAGES = ("parse", "store posts", "buckets", "features")


def run_once(url: str) -> dict[str, float]:
    migrate.upgrade(url)
    engine = get_engine(url)
    timings: dict[str, float] = {}
    with session_scope(engine) as session:
        account_id = add_account(session, "elonmusk").id
        t0 = time.perf_counter()
        parsed = parse_archive(POSTS)
        t1 = time.perf_counter()
        result = store_posts(session, account_id, parsed.records, source="archive")
        t2 = time.perf_counter()
        assert result.span is not None and result.inserted == len(parsed.records)
        span = refresh_buckets(session, account_id, *result.span)
        t3 = time.perf_counter()
        refresh_after_buckets(session, account_id, span)
        t4 = time.perf_counter()
    timings.update(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True))
    return timings


def sqlite_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        try:
            return run_once(url)
        finally:
            get_engine(url).dispose()


def postgres_run(base_url: str) -> dict[str, float]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    try:
        return run_once(url)
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "MUSKTRACKER_TEST_POSTGRES_URL",
            "postgresql+psycopg://musktracker:musktracker@localhost:5432/musktracker_test",
        ),
    )
    args = parser.parse_args()
    console = Console()
    backends: dict[str, Callable[[], dict[str, float]]] = {
        "SQLite": sqlite_run,
        "PostgreSQL": lambda: postgres_run(args.postgres_url),
    }
    table = Table(
        *("database", *STAGES, "import + buckets", "total"),
        title=f"Import of {POSTS.name}: median of {args.runs} runs, seconds, "
        f"{os.cpu_count()} cores",
    )
    for name, run in backends.items():
        try:
            runs = [run() for _ in range(args.runs)]
        except Exception as exc:  # report an unreachable server instead of crashing the table
            console.print(f"[yellow]{name} skipped: {exc.__class__.__name__}: {exc}[/yellow]")
            continue
        med = {stage: statistics.median(r[stage] for r in runs) for stage in STAGES}
        core = med["parse"] + med["store posts"] + med["buckets"]
        table.add_row(
            name, *(f"{med[s]:.2f}" for s in STAGES), f"{core:.2f}", f"{core + med['features']:.2f}"
        )
    console.print(table)


if __name__ == "__main__":
    main()
