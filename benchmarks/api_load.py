"""Load benchmark of the REST API: a real `musktracker serve` on loopback, driven by
bounded request loops in a second process (keep-alive HTTP/1.1 over asyncio sockets, so the
client costs little CPU next to the server on a 2-core machine).

Prints requests/s and p50/p95/p99 latency per route. Goal for cached GET routes: at least
1,000 requests/s with p95 under 50 ms.

    .venv/bin/python benchmarks/api_load.py --posts 5000 --requests 20000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from musktracker.accounts import add_account
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope
from musktracker.ingest.importer import import_archive
from musktracker.security.apikeys import create_key, parse_scopes

REPO = Path(__file__).resolve().parents[1]
POSTS = REPO.parent / "shared" / "data" / "elonmusk" / "posts.csv"
COUNTS = "/v1/accounts/elonmusk/counts?start=2022-11-07T00:00:00Z&end=2022-11-14T00:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(workdir: Path, posts: int) -> tuple[str, str]:
    """A migrated SQLite database with real posts, bucketed; and a read key."""
    sample = workdir / "posts.csv"
    with POSTS.open() as src:
        sample.write_text("".join(line for _, line in zip(range(posts + 1), src, strict=False)))
    url = f"sqlite:///{workdir / 'bench.db'}"
    migrate.upgrade(url)
    with session_scope(get_engine(url)) as session:
        add_account(session, "elonmusk")
        import_archive(session, "elonmusk", sample)
        _, key = create_key(session, "bench", parse_scopes("read"))
    get_engine(url).dispose()
    return url, key


async def _one_connection(
    port: int, request: bytes, count: int, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(count):
        started = time.perf_counter()
        writer.write(request)
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
    port: int, path: str, key: str, total: int, concurrency: int, out: mp.Queue[Any]
) -> None:
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n").encode()
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        per = total // concurrency
        started = time.perf_counter()
        await asyncio.gather(
            *(_one_connection(port, request, per, latencies, errors) for _ in range(concurrency))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    out.put((elapsed, latencies, len(errors)))


def measure(port: int, path: str, key: str, total: int, concurrency: int) -> dict[str, float]:
    """Run the load in a second process and summarise it."""
    queue: mp.Queue[Any] = mp.Queue()
    warm = mp.Process(target=_drive, args=(port, path, key, 200, 4, queue))
    warm.start()
    queue.get()
    warm.join()
    proc = mp.Process(target=_drive, args=(port, path, key, total, concurrency, queue))
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
    url: str, port: int, workers: int, cache_ttl: float, log_level: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "API_CACHE_TTL_SECONDS": str(cache_ttl),
        "API_RATE_LIMIT_PER_MINUTE": "100000000",
        "LOG_LEVEL": log_level,
    }
    env.pop("REDIS_URL", None)
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("musktracker serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5_000, help="Real posts to import.")
    parser.add_argument("--requests", type=int, default=20_000, help="Requests per route.")
    parser.add_argument("--concurrency", type=int, default=16, help="Open connections.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument("--log-level", default="WARNING", help="Server LOG_LEVEL.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        print(f"preparing: {args.posts} real @elonmusk posts into SQLite ...", flush=True)
        url, key = prepare(Path(tmp), args.posts)
        rows = []
        load_before = os.getloadavg()[0]
        for label, path, ttl in [
            ("GET counts (7 days hourly), cached", COUNTS, 5.0),
            ("GET accounts, cached", "/v1/accounts", 5.0),
            ("GET counts (7 days hourly), no cache", COUNTS, 0.0),
            ("GET healthz (no key, no DB)", "/healthz", 5.0),
        ]:
            port = _free_port()
            server = serve(url, port, args.workers, ttl, args.log_level)
            try:
                rows.append((label, measure(port, path, key, args.requests, args.concurrency)))
            finally:
                server.terminate()
                server.wait(timeout=30)

    print(
        f"\nload average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}; "
        f"machine: {os.cpu_count()} cores; server: musktracker serve --workers {args.workers}, "
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
