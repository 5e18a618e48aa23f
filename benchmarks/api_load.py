"""Load benchmark of the REST API: a real `musktracker serve` on loopback, driven by
bounded request loops in a second process (keep-alive HTTP/1.1 over asyncio sockets, so the
client costs little CPU next to the server on a 2-core machine).

Prints requests/s and p50/p95/p99 latency per route. Goals: at least 1,000 requests/s with
p95 under 50 ms for cached GET routes; p95 under 500 ms for POST /v1/sentiment/predict with a
batch of 32 real SemEval dev tweets (no prediction cache, so every text goes through the
model), served by the champion in the MLflow store given by --mlflow (skipped if none).

    .venv/bin/python benchmarks/api_load.py --posts 5000 --requests 20000 --concurrency 16

(or -m benchmarks.api_load; --posts 500 --requests 1000 for a quick check). The database is a
temporary SQLite file; an --mlflow folder that does not exist is reported, not created.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, get_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import numpy as np

from benchmarks.common import (
    POSTS,
    SENTIMENT_DATA,
    count_rows,
    data_file,
    data_line,
    existing_tracker,
    machine,
    make_parser,
    positive_int,
)
from musktracker.accounts import add_account
from musktracker.config import Settings
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope
from musktracker.ingest.importer import import_archive
from musktracker.security.apikeys import create_key, parse_scopes
from musktracker.sentiment.data import read_labelled

DEV_TWEETS = SENTIMENT_DATA / "semeval_dev.tsv"
BATCH = 32
COUNTS = "/v1/accounts/elonmusk/counts?start=2022-11-07T00:00:00Z&end=2022-11-14T00:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(workdir: Path, archive: Path, posts: int) -> tuple[str, str, str]:
    """A migrated SQLite database with real posts, bucketed; a read key and a write key."""
    sample = workdir / "posts.csv"
    with archive.open() as src:
        sample.write_text("".join(line for _, line in zip(range(posts + 1), src, strict=False)))
    url = f"sqlite:///{workdir / 'bench.db'}"
    migrate.upgrade(url)
    with session_scope(get_engine(url)) as session:
        add_account(session, "elonmusk")
        import_archive(session, "elonmusk", sample)
        _, key = create_key(session, "bench", parse_scopes("read"))
        _, write_key = create_key(session, "bench-write", parse_scopes("write"))
    get_engine(url).dispose()
    return url, key, write_key


def get_request(path: str, key: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n".encode()


def predict_requests(key: str) -> list[bytes]:
    """POST /v1/sentiment/predict bodies of 32 consecutive real dev tweets each."""
    texts = read_labelled(DEV_TWEETS).texts
    requests = []
    for start in range(0, len(texts) - BATCH + 1, BATCH):
        body = json.dumps({"texts": texts[start : start + BATCH]}).encode()
        head = (
            "POST /v1/sentiment/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-API-Key: {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def _one_connection(
    port: int, requests: list[bytes], first: int, count: int, latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n in range(count):
        started = time.perf_counter()
        writer.write(requests[(first + n) % len(requests)])
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 2"):
            errors.append(1)
    writer.close()


def _drive(
    port: int, requests: list[bytes], total: int, concurrency: int, out: mp.Queue[Any]
) -> None:
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        # `total` requests in all: the first connections take one more when it does not divide
        counts = [total // concurrency + (c < total % concurrency) for c in range(concurrency)]
        firsts = [sum(counts[:c]) for c in range(concurrency)]
        started = time.perf_counter()
        await asyncio.gather(
            *(_one_connection(port, requests, first, count, latencies, errors)
              for first, count in zip(firsts, counts, strict=True))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    out.put((elapsed, latencies, len(errors)))


def measure(port: int, requests: list[bytes], total: int, concurrency: int) -> dict[str, float]:
    """Run the load in a second process and summarise it (after a short warm-up)."""
    queue: mp.Queue[Any] = mp.Queue()
    warm = mp.Process(target=_drive, args=(port, requests, min(200, total), 4, queue))
    warm.start()
    queue.get()
    warm.join()
    proc = mp.Process(target=_drive, args=(port, requests, total, concurrency, queue))
    proc.start()
    elapsed, latencies, errors = queue.get()
    proc.join()
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "errors": errors,
    }


def serve(
    url: str, port: int, workers: int, cache_ttl: float, log_level: str,
    extra: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "API_CACHE_TTL_SECONDS": str(cache_ttl),
        "API_RATE_LIMIT_PER_MINUTE": "100000000",
        "LOG_LEVEL": log_level,
        **(extra or {}),
    }
    env.pop("REDIS_URL", None)
    # The server's output goes to a file (the child keeps it open after ours is closed), so
    # a server that does not come up says why.
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "musktracker.cli.serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return proc
            except OSError:
                time.sleep(0.1)
        proc.kill()
        proc.wait()
        output.seek(0)
        said = output.read().decode(errors="replace").strip().splitlines()[-20:]
    raise RuntimeError(
        f"musktracker serve did not start on port {port} (exit status {proc.returncode}); "
        "its last output:\n" + "\n".join(said or ["(none)"])
    )


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--posts", type=positive_int, default=5_000, help="real posts to import")
    parser.add_argument(
        "--requests", type=positive_int, default=20_000, help="requests per GET route"
    )
    parser.add_argument("--concurrency", type=positive_int, default=16, help="open connections")
    parser.add_argument("--workers", type=positive_int, default=1, help="uvicorn worker processes")
    parser.add_argument(  # the server refuses anything else, after a 30 s wait for it here
        "--log-level", default="WARNING", help="server LOG_LEVEL",
        choices=get_args(Settings.model_fields["log_level"].annotation),
    )
    parser.add_argument(
        "--mlflow", default=os.environ.get("MLFLOW_TRACKING_URI", "mlruns"),
        help="MLflow store whose sentiment champion serves the predict route",
    )
    parser.add_argument("--predict-requests", type=positive_int, default=300,
                        help="batches of 32 texts sent to the sentiment route")
    parser.add_argument("--archive", type=data_file, default=str(POSTS),
                        help="CSV of real posts whose first --posts lines are imported")
    args = parser.parse_args(argv)
    # Each connection (one per worker on the predict route) needs at least one request.
    for sent, connections in (("requests", "concurrency"), ("predict_requests", "workers")):
        if getattr(args, sent) < getattr(args, connections):
            parser.error(
                f"argument --{sent.replace('_', '-')}: {getattr(args, sent)} is below "
                f"--{connections} {getattr(args, connections)}"
            )
    print(machine())
    print(data_line(args.archive, min(args.posts, count_rows(args.archive)), "posts imported"))

    with tempfile.TemporaryDirectory() as tmp:
        print(f"preparing: {args.posts} real @elonmusk posts into SQLite ...", flush=True)
        url, key, write_key = prepare(Path(tmp), args.archive, args.posts)
        routes: list[tuple[str, list[bytes], float, int, int, dict[str, str]]] = [
            ("GET counts (7 days hourly), cached", [get_request(COUNTS, key)], 5.0,
             args.requests, args.concurrency, {}),
            ("GET accounts, cached", [get_request("/v1/accounts", key)], 5.0, args.requests,
             args.concurrency, {}),
            ("GET counts (7 days hourly), no cache", [get_request(COUNTS, key)], 0.0,
             args.requests, args.concurrency, {}),
            ("GET healthz (no key, no DB)", [get_request("/healthz", key)], 5.0,
             args.requests, args.concurrency, {}),
        ]
        tracker = existing_tracker(args.mlflow, "musktracker-sentiment")
        champion = tracker.champion() if tracker is not None else None
        if champion is None:
            print(f"sentiment route skipped: no champion in {args.mlflow}"
                  + (" (no such folder)" if tracker is None else "")
                  + " (train one with `musktracker sentiment train`)")
        else:
            # One request at a time per worker: the model uses every core it is given.
            routes.append((f"POST sentiment predict, {BATCH} texts", predict_requests(write_key),
                           0.0, args.predict_requests, args.workers,
                           {"MLFLOW_TRACKING_URI": args.mlflow, "SENTIMENT_CACHE_SIZE": "0"}))
        rows = []
        load_before = os.getloadavg()[0]
        for label, requests, ttl, total, concurrency, extra in routes:
            port = _free_port()
            server = serve(url, port, args.workers, ttl, args.log_level, extra)
            try:
                rows.append((label, measure(port, requests, total, concurrency)))
            finally:
                server.terminate()
                server.wait(timeout=30)

    if champion is not None:
        print(f"sentiment champion: version {champion.version} of {args.mlflow} "
              f"({champion.tags.get('kind', '?')}), prediction cache off")
    print(
        f"\nload average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}; "
        f"server: musktracker serve --workers {args.workers}, "
        f"LOG_LEVEL={args.log_level}, SQLite, no Redis; client: 1 process, "
        f"{args.concurrency} keep-alive connections"
    )
    header = f"{'route':<40} {'requests':>8} {'req/s':>8} " + " ".join(
        f"{h:>7}" for h in ("p50 ms", "p95 ms", "p99 ms", "errors")
    )
    print(header)
    print("-" * len(header))
    for label, r in rows:
        print(
            f"{label:<40} {r['requests']:>8.0f} {r['rps']:>8.0f} {r['p50']:>7.2f} "
            f"{r['p95']:>7.2f} {r['p99']:>7.2f} {r['errors']:>6.0f}"
        )


if __name__ == "__main__":
    main()
