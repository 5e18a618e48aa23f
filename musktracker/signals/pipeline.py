"""The pipeline: filter > refine > dedup > enrich > rules > store, one batch at a time.

Everything a batch writes (events, signals, outbox rows, dedup keys and the source's
checkpoint) commits in ONE transaction: a crash either keeps all of it or none, so no
signal exists without its outbox rows and no event is lost or stored twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musktracker.db.session import session_scope
from musktracker.logging import get_logger
from musktracker.signals.dedup import Deduplicator
from musktracker.signals.enrich import Enricher
from musktracker.signals.event import PipelineEvent, RawEvent
from musktracker.signals.features import rule_features
from musktracker.signals.filter import FilterConfig, apply_filter
from musktracker.signals.metrics import EVENTS_PROCESSED, PIPELINE_LATENCY_MS
from musktracker.signals.refine import SentimentScorer, apply_refine
from musktracker.signals.rules import RuleSet, Scored
from musktracker.signals.store import store_scored, stored_events
from musktracker.utc import utcnow

log = get_logger(__name__)


@dataclass
class BatchResult:
    """What one batch produced."""

    stored: int = 0
    outbox_rows: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    scores: dict[str, float] = field(default_factory=dict)
    # CPU seconds of this process spent in each stage (filter, refine, dedup, enrich, rules,
    # store, commit): where a batch's time goes, for the logs and benchmarks/signals.py.
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    # Sources whose part of a `signals run` pass failed (logged; read again next pass).
    failed_sources: list[str] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the process CPU time of the block to stage `name` (a failed block too)."""
        start = time.process_time()
        try:
            yield
        finally:
            spent = time.process_time() - start
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + spent


UNIQUE_VIOLATION = "23505"  # PostgreSQL SQLSTATE
SQLITE_UNIQUE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether the database refused a duplicate key (a race), not some other constraint."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == UNIQUE_VIOLATION:  # psycopg 3
        return True
    if getattr(orig, "sqlite_errorname", None) in SQLITE_UNIQUE:
        return True
    return "UNIQUE constraint failed" in str(orig)


def _drop_kind(reason: str) -> str:
    return "duplicate" if "duplicate" in reason else "filtered"


class SignalPipeline:
    def __init__(
        self,
        engine: Engine,
        rules: Callable[[], RuleSet],
        filter_config: FilterConfig,
        dedup: Deduplicator,
        thresholds: dict[str, float],
        enricher: Enricher | None = None,
        scorer: SentimentScorer | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.filter_config = filter_config
        self.dedup = dedup
        self.thresholds = thresholds
        self.enricher = enricher
        self.scorer = scorer

    def process(
        self,
        raws: Sequence[RawEvent | PipelineEvent],
        on_commit: Callable[[Session], None] | None = None,
    ) -> BatchResult:
        """Run a batch through every stage; `on_commit` writes in the same transaction."""
        events = [r if isinstance(r, PipelineEvent) else PipelineEvent(raw=r) for r in raws]
        result = BatchResult()
        with result.stage("filter"):
            apply_filter(events, self.filter_config)
        with result.stage("refine"):
            apply_refine(events, self.scorer)
        try:
            scored = self._score_and_store(events, result, on_commit)
        except IntegrityError as exc:
            # Another process (the stream consumer, a second runner) stored one of these
            # event keys or dedup keys first; a second pass sees its rows and builds on them.
            # Any other integrity error (NOT NULL, a foreign key) is a bug: no retry.
            if not is_unique_violation(exc):
                raise
            log.info("batch raced another writer; retrying once", stage="store")
            scored = self._score_and_store(events, result, on_commit)
        with result.stage("dedup"):
            self.dedup.after_commit()
        done = utcnow()
        for event, outcome, _ in scored:
            result.scores[event.event_key] = outcome.score
            PIPELINE_LATENCY_MS.observe((done - event.received_at).total_seconds() * 1000)
        # Counted per event, not per id: a repeat of a dropped item in the same batch counts.
        dropped = [(e.dedup_id, e.dropped) for e in events if e.dropped is not None]
        result.dropped.update(_drop_kind(reason) for _, reason in dropped)
        # One line per batch (a line per event would cost more than scoring it).
        log.debug(
            "batch stored",
            stage="store",
            scores=result.scores,
            dropped=dict(dropped),
            cpu_ms={k: round(v * 1000, 1) for k, v in result.cpu_seconds.items()},
        )
        result.stored = len(scored)
        EVENTS_PROCESSED.labels(outcome="stored").inc(result.stored)
        for kind, n in result.dropped.items():
            EVENTS_PROCESSED.labels(outcome=kind).inc(n)
        return result

    def _score_and_store(
        self,
        events: list[PipelineEvent],
        result: BatchResult,
        on_commit: Callable[[Session], None] | None,
    ) -> list[tuple[PipelineEvent, Scored, dict[str, Any]]]:
        stage = result.stage
        with session_scope(self.engine) as session:
            with stage("dedup"):
                self.dedup.apply(session, events)
            live = [e for e in events if e.dropped is None]
            if self.enricher is not None:
                with stage("enrich"):
                    self.enricher.apply(live)
            with stage("store"):
                stored = stored_events(session, [e.event_key for e in live])
            with stage("rules"):
                counts = {key: event.evidence_count for key, event in stored.items()}
                rules = self.rules()
                scored = []
                for event in live:
                    counts[event.event_key] = counts.get(event.event_key, 0) + 1
                    features = rule_features(event, counts[event.event_key])
                    scored.append((event, rules.evaluate(features, event.event_key), features))
            with stage("store"):
                result.outbox_rows = store_scored(session, scored, self.thresholds, stored)
            with stage("dedup"):
                self.dedup.remember(session)
            if on_commit is not None:
                on_commit(session)
            with stage("commit"):  # here rather than on leaving the scope, to time it
                session.commit()
        return scored
