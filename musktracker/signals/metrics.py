"""Prometheus metrics of the signals pipeline and delivery (prometheus-client).

`signals run` and `signals dispatch` serve them on SIGNALS_METRICS_PORT when it is set;
the API issue can mount the same default registry under /metrics.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

PIPELINE_LATENCY_MS = Histogram(
    "pipeline_latency_ms",
    "Milliseconds from an event's arrival to its signal being stored.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 60000),
)
EVENTS_PROCESSED = Counter(
    "events_processed_total", "Events through the pipeline, by outcome.", ["outcome"]
)
NOTIFICATIONS_SENT = Counter(
    "notifications_sent_total", "Delivery attempts, by channel and result.", ["channel", "status"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet delivered nor dead-lettered.")
CONFIG_RELOAD = Counter("config_reload_total", "Rule file reloads, by result.", ["result"])
RULE_ERRORS = Counter(
    "rule_errors_total",
    "Rule conditions that raised while evaluated for an event (counted as not fired), by rule.",
    ["rule"],
)
SOURCE_ERRORS = Counter(
    "source_errors_total", "Signal sources whose part of a `signals run` pass failed.", ["source"]
)
EXTERNAL_ERRORS = Counter(
    "external_error_total", "Errors from enrichment providers.", ["provider", "code"]
)


def serve(port: int | None) -> None:
    """Expose the metrics over HTTP when a port is configured."""
    if port is not None:
        start_http_server(port)
