"""`signals run`: poll every source, push what is new through the pipeline, repeat."""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from musktracker.db.session import session_scope
from musktracker.logging import get_logger
from musktracker.signals.metrics import SOURCE_ERRORS
from musktracker.signals.pipeline import BatchResult, SignalPipeline
from musktracker.signals.sources.base import Source

log = get_logger(__name__)


def poll_once(engine: Engine, pipeline: SignalPipeline, sources: Sequence[Source]) -> BatchResult:
    """One pass over every source; a source's checkpoint commits with its signals.

    A source whose batch fails is logged and counted (`source_errors_total`) and the pass
    goes on with the next source: its batch rolled back and is read again next pass.
    """
    total = BatchResult()
    for source in sources:
        try:
            _drain(engine, pipeline, source, total)
        except Exception:
            SOURCE_ERRORS.labels(source=source.name).inc()
            total.failed_sources.append(source.name)
            log.exception(
                "source failed in this pass; the other sources go on",
                stage="run",
                source=source.name,
            )
    return total


def _drain(engine: Engine, pipeline: SignalPipeline, source: Source, total: BatchResult) -> None:
    """Every batch `source` has now, through the pipeline, adding to `total`."""
    while True:
        with session_scope(engine) as session:
            events = source.fetch(session)
        if not events:
            break
        result = pipeline.process(events, on_commit=source.commit)
        total.stored += result.stored
        total.outbox_rows += result.outbox_rows
        total.dropped.update(result.dropped)
        total.scores.update(result.scores)
        # Lookback sources re-read what dedup then drops: only real news is worth INFO.
        (log.info if result.stored else log.debug)(
            "batch processed",
            stage="run",
            source=source.name,
            events=len(events),
            stored=result.stored,
            outbox=result.outbox_rows,
            dropped=dict(result.dropped),
        )
        if not source.more:
            break


def freeze_startup_heap() -> None:
    """Hide everything alive now (modules, settings, rules, clients) from the cyclic garbage
    collector, for the rest of the process.

    Those ~130,000 objects never die, yet every full collection walked them all: measured
    with benchmarks/signals.py, ~40 us of CPU per event. Called once, after start-up and
    before the first batch; what is garbage already is collected first. One of them that
    later turns into cyclic garbage (the first rules, after a reload) is never freed: a
    few kilobytes, once.
    """
    gc.collect()
    gc.freeze()


def run_forever(
    engine: Engine,
    pipeline: SignalPipeline,
    sources: Sequence[Source],
    poll_seconds: float,
    stop: threading.Event,
) -> None:
    freeze_startup_heap()
    while not stop.is_set():
        try:
            poll_once(engine, pipeline, sources)
        except Exception:  # keep serving: the batch rolled back and is read again next pass
            log.exception("signals pass failed; retrying after the poll interval", stage="run")
        stop.wait(poll_seconds)
