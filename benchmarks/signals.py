"""Signals pipeline speed: throughput of the local stages and post-to-webhook latency.

1. Events per second through filter > refine > dedup > rules > storage (events, signals,
   outbox rows, dedup keys), enrichment off, on a fresh SQLite file (and a fresh schema in
   --postgres-url's database when that server is reachable; otherwise a note says why
   not). Input: real tweets from the SemEval sentiment data in ../shared/data (their label
   as the producer's sentiment score). Wall time depends on what else the machine runs, so
   each row also gives this process's CPU time, the CPU microseconds per event of every
   stage, and the load average (1 minute) when the run started and ended.
2. Latency from a post's arrival (`SignalPostConsumer.on_post`) to a local webhook receiver
   getting it, with a dispatcher polling every 50 ms in a second thread. Goal: p95 < 1 s.

Run: .venv/bin/python benchmarks/signals.py [--events 20000] [--posts 200] [--repeat 1]
(or .venv/bin/python -m benchmarks.signals ...; --events 1000 --posts 20 for a quick check)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from benchmarks.common import (
    DATABASES,
    POSTGRES_URL,
    REPO,
    SENTIMENT_DATA,
    count_rows,
    data_file,
    data_line,
    machine,
    make_parser,
    positive_int,
    scratch_database,
)
from musktracker.db import migrate
from musktracker.db.session import get_engine
from musktracker.ingest.archive import PostRecord
from musktracker.logging import configure_logging
from musktracker.signals.dedup import DatabaseDedupStore, Deduplicator
from musktracker.signals.dispatcher import Dispatcher
from musktracker.signals.event import RawEvent
from musktracker.signals.filter import FilterConfig, detect_language
from musktracker.signals.notifiers.webhook import WebhookNotifier
from musktracker.signals.outbox import RetryPolicy
from musktracker.signals.pipeline import SignalPipeline
from musktracker.signals.rules import load_rules
from musktracker.signals.runner import freeze_startup_heap
from musktracker.signals.sources.posts import SignalPostConsumer
from musktracker.utc import utcnow

DATA = SENTIMENT_DATA / "semeval_train.tsv"
RULES = REPO / "rules" / "rules.yml"
SENTIMENT = {"positive": 0.8, "neutral": 0.0, "negative": -0.8}
STAGES = ("filter", "refine", "dedup", "rules", "store", "commit")
console = Console(width=130)


def tweets(data: Path, limit: int) -> list[tuple[str, str, str]]:
    """The first `limit` tweets (id, label, text) of a SemEval TSV file."""
    rows: list[tuple[str, str, str]] = []
    with data.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            tweet_id, label, body, _ = line.rstrip("\n").split("\t")
            rows.append((tweet_id, label, body))
            if len(rows) == limit:
                break
    return rows


def make_pipeline(url: str, thresholds: dict[str, float]) -> SignalPipeline:
    migrate.upgrade(url)
    rules = load_rules(RULES)
    return SignalPipeline(
        get_engine(url),
        rules=lambda: rules,
        filter_config=FilterConfig.from_strings("en", "", ""),
        dedup=Deduplicator(DatabaseDedupStore()),
        thresholds=thresholds,
    )


class GcClock:
    """CPU seconds the cyclic garbage collector runs while installed (it runs inside the
    stages, wherever an allocation triggers it)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


def throughput(url: str, data: Path, n: int, batch: int) -> dict[str, Any]:
    """Only `pipeline.process` is timed, after the start-up `signals run` does (warm language
    detector, frozen start-up heap). Each batch's events are built (validated, as a source
    does) just before it, as `signals run` gets them from a source: 20,000 events built up
    front and kept alive would be walked by every full garbage collection."""
    pipeline = make_pipeline(url, {"webhook": 2.0})
    now = utcnow()
    rows = tweets(data, n)
    detect_language("warm up the language detector once before timing")
    freeze_startup_heap()  # as `signals run` does before its first batch
    stored = queued = dropped = 0
    cpu = seconds = 0.0
    stage_cpu: dict[str, float] = {}
    gc_clock = GcClock()
    load_start = os.getloadavg()[0]
    gc.callbacks.append(gc_clock)
    try:
        for i in range(0, len(rows), batch):
            events = [
                RawEvent(
                    source="semeval",
                    source_id=tweet_id,
                    type="post",
                    created_at=now,
                    account="bench",
                    text=body,
                    sentiment=SENTIMENT[label],
                )
                for tweet_id, label, body in rows[i : i + batch]
            ]
            cpu_start, start = time.process_time(), time.perf_counter()
            result = pipeline.process(events)
            seconds += time.perf_counter() - start
            cpu += time.process_time() - cpu_start
            stored += result.stored
            queued += result.outbox_rows
            dropped += sum(result.dropped.values())
            for stage, spent in result.cpu_seconds.items():
                stage_cpu[stage] = stage_cpu.get(stage, 0.0) + spent
    finally:
        gc.callbacks.remove(gc_clock)
    return {
        "cpu": cpu,
        "cpu_rate": len(rows) / cpu,
        "events": len(rows),
        "stored": stored,
        "queued": queued,
        "dropped": dropped,
        "seconds": seconds,
        "rate": len(rows) / seconds,
        "stage_cpu": stage_cpu,
        "gc": gc_clock.seconds,
        "load": f"{load_start:.1f} -> {os.getloadavg()[0]:.1f}",
    }


def latency(url: str, data: Path, posts: int, interval: float) -> list[float]:
    sent_at: dict[str, float] = {}
    arrived: dict[str, float] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrived.setdefault(json.loads(body)["source_id"], time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    pipeline = make_pipeline(url, {"webhook": 0.0})
    consumer = SignalPostConsumer(pipeline, "bench")
    stop = threading.Event()
    client = httpx.Client(timeout=5)
    dispatcher = Dispatcher(
        get_engine(url), {"webhook": WebhookNotifier(client, hook, "secret")}, RetryPolicy()
    )
    worker = threading.Thread(target=dispatcher.run_forever, args=(0.05, stop), daemon=True)
    worker.start()
    for tweet_id, _, body in tweets(data, posts):
        sent_at[tweet_id] = time.perf_counter()
        consumer.on_post(PostRecord(tweet_id, utcnow(), text=body))
        time.sleep(interval)
    expected = queued_source_ids(url)  # posts that passed the filter and dedup
    deadline = time.monotonic() + 30
    while not expected <= arrived.keys() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join()
    server.shutdown()
    client.close()
    return sorted((arrived[k] - sent_at[k]) * 1000 for k in arrived)


def queued_source_ids(url: str) -> set[str]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(text("SELECT payload FROM push_outbox")).scalars()
        return {(json.loads(p) if isinstance(p, str) else p)["source_id"] for p in rows}


def throughput_tables(batch: int) -> tuple[Table, Table]:
    """Empty throughput and per-stage tables: one row per database (and repeat)."""
    title = f"Signals throughput (filter, refine, dedup, rules, storage; batch {batch})"
    table = Table(title=title)
    columns = ("database", "events", "stored", "queued", "dropped", "wall s", "events/s", "CPU s")
    for column in (*columns, "events/CPU-s", "load 1m"):
        table.add_column(column, justify="right")
    stages = Table(title="CPU microseconds per event, by stage (this process)")
    for column in ("database", *STAGES, "outside stages", "total", "of which GC"):
        stages.add_column(column, justify="right")
    return table, stages


def add_throughput_rows(table: Table, stages: Table, name: str, r: dict[str, Any]) -> None:
    table.add_row(
        name,
        f"{r['events']:,}",
        f"{r['stored']:,}",
        f"{r['queued']:,}",
        f"{r['dropped']:,}",
        f"{r['seconds']:.2f}",
        f"{r['rate']:,.0f}",
        f"{r['cpu']:.2f}",
        f"{r['cpu_rate']:,.0f}",
        r["load"],
    )
    per_event = {k: v / r["events"] * 1e6 for k, v in r["stage_cpu"].items()}
    outside = r["cpu"] / r["events"] * 1e6 - sum(per_event.values())
    stages.add_row(
        name,
        *(f"{per_event.get(stage, 0.0):.0f}" for stage in STAGES),
        f"{outside:.0f}",
        f"{r['cpu'] / r['events'] * 1e6:.0f}",
        f"{r['gc'] / r['events'] * 1e6:.0f}",
    )


def non_negative(value: str) -> float:
    """An argparse type: seconds >= 0 (a negative interval ended in a traceback)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__)
    parser.add_argument(
        "--events", type=positive_int, default=20000,
        help="events for throughput (at most the file's tweets)",
    )
    parser.add_argument("--batch", type=positive_int, default=500, help="events per batch")
    parser.add_argument("--posts", type=positive_int, default=200, help="posts for latency")
    parser.add_argument(
        "--interval", type=non_negative, default=0.05, help="seconds between posts"
    )
    parser.add_argument(
        "--repeat", type=positive_int, default=1, help="throughput runs per database"
    )
    parser.add_argument("--data", type=data_file, default=str(DATA), help="SemEval TSV of tweets")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="server whose database gets a scratch schema"
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    print(machine())
    print(data_line(args.data, count_rows(args.data), "tweets"))

    table, stages = throughput_tables(args.batch)
    lat_table = Table(title="Post arrival -> local webhook receiver (dispatcher polls every 50 ms)")
    for column in ("database", "posts", "delivered", "p50 ms", "p95 ms", "max ms", "load 1m"):
        lat_table.add_column(column, justify="right")
    for run in range(1, args.repeat + 1):
        suffix = f" #{run}" if args.repeat > 1 else ""
        for name in DATABASES:
            with scratch_database(name, args.postgres_url) as url:
                if url is not None:
                    r = throughput(url, args.data, args.events, args.batch)
                    add_throughput_rows(table, stages, name + suffix, r)
    for name in DATABASES:
        with scratch_database(name, args.postgres_url) as url:
            if url is None:
                continue
            load_start = os.getloadavg()[0]
            ms = latency(url, args.data, args.posts, args.interval)
            # p50, p95, max; none when every post was filtered out
            spread = [statistics.median(ms), ms[round(0.95 * (len(ms) - 1))], max(ms)] if ms else []
            lat_table.add_row(
                name,
                str(args.posts),
                str(len(ms)),
                *(f"{v:.0f}" for v in spread or [float("nan")] * 3),
                f"{load_start:.1f} -> {os.getloadavg()[0]:.1f}",
            )
    console.print(table)
    console.print(
        "goal: >= 2,000 events/s on SQLite. CPU s and events/CPU-s count this process only (for "
        "PostgreSQL the server's own CPU time is not in them); they move far less than wall time "
        "when other jobs share the machine."
    )
    console.print(stages)
    console.print(
        "filter includes language detection; dedup the SimHash, lookups and dedup-key writes; "
        "store the reads and writes of events, signals and outbox rows; outside stages: event "
        "construction and bookkeeping; of which GC: the cyclic garbage collector, which runs "
        "inside the other columns."
    )
    console.print(lat_table)
    console.print("goal: p95 < 1,000 ms (original design budget: 2 minutes)")


if __name__ == "__main__":
    main()
