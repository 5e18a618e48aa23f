"""Prometheus metrics of the API: request counts and latency by route template and status.

Labels use the route template (`/v1/accounts/{username}/counts`), never the raw path, so
cardinality stays bounded. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR and
every worker's samples are merged on `/metrics`.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "musktracker_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "musktracker_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE = Counter(
    "musktracker_api_cache_total", "Response cache lookups, by result.", ["result"]
)
RATE_LIMITED = Counter(
    "musktracker_api_rate_limited_total", "Requests refused with 429 by the per-key limit."
)

UNMATCHED_ROUTE = "<unmatched>"


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route, str(status)).observe(seconds)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric in this process (or all workers)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
