"""Time to import the shared @elonmusk file and compute buckets and features, on SQLite and
PostgreSQL. Prints one table; goal on a 2-core machine: import + buckets < 10 s, with
features < 20 s.

    .venv/bin/python -m benchmarks.import_pipeline [--runs 3] [--posts FILE] [--postgres-url URL]

PostgreSQL runs in a fresh schema that is dropped afterwards; without a reachable server its
row is left out with a note.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

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
from musktracker.features.buckets import refresh_buckets
from musktracker.features.build import refresh_after_buckets
from musktracker.ingest.archive import parse_archive
from musktracker.ingest.store import store_posts

STAGES = ("parse", "store posts", "buckets", "features")


ROWS = {  # what the import produced, counted after the timed work (the docs quote it)
    "hourly buckets": "SELECT count(*) FROM time_buckets WHERE granularity = 'hourly'",
    "daily buckets": "SELECT count(*) FROM time_buckets WHERE granularity = 'daily'",
    "feature rows": "SELECT count(*) FROM features",
}


def run_once(url: str, posts: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds per stage, and the rows of ROWS the import made."""
    migrate.upgrade(url)
    engine = get_engine(url)
    timings: dict[str, float] = {}
    with session_scope(engine) as session:
        account_id = add_account(session, "elonmusk").id
        t0 = time.perf_counter()
        parsed = parse_archive(posts)
        t1 = time.perf_counter()
        result = store_posts(session, account_id, parsed.records, source="archive")
        t2 = time.perf_counter()
        assert result.span is not None and result.inserted == len(parsed.records)
        span = refresh_buckets(session, account_id, *result.span)
        t3 = time.perf_counter()
        refresh_after_buckets(session, account_id, span)
        t4 = time.perf_counter()
    timings.update(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True))
    with engine.connect() as conn:
        rows = {what: int(conn.execute(text(sql)).scalar_one()) for what, sql in ROWS.items()}
    return timings, rows


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--runs", type=positive_int, default=3, help="runs per database")
    parser.add_argument("--posts", type=data_file, default=str(POSTS), help="archive to import")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="server whose database gets a scratch schema"
    )
    args = parser.parse_args(argv)
    console = Console()
    print(machine())
    print(data_line(args.posts, count_rows(args.posts), "posts"))
    table = Table(
        *("database", *STAGES, "import + buckets", "total"),
        title=f"Import of {args.posts.name}: median of {args.runs} runs, seconds",
    )
    made: dict[str, dict[str, int]] = {}
    for name in DATABASES:
        runs = []
        for _ in range(args.runs):
            with scratch_database(name, args.postgres_url) as url:
                if url is None:
                    break
                timings, made[name] = run_once(url, args.posts)
                runs.append(timings)
        if not runs:
            continue
        med = {stage: statistics.median(r[stage] for r in runs) for stage in STAGES}
        core = med["parse"] + med["store posts"] + med["buckets"]
        table.add_row(
            name, *(f"{med[s]:.2f}" for s in STAGES), f"{core:.2f}", f"{core + med['features']:.2f}"
        )
    console.print(table)
    for name, rows in made.items():
        print(f"{name}: " + ", ".join(f"{n:,} {what}" for what, n in rows.items()))


if __name__ == "__main__":
    main()
