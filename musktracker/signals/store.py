"""Storage stage: events, their signal, and outbox rows, all in the caller's transaction.

Repeated evidence for an event key updates the event (last time, count, a capped evidence
list) and re-scores its signal. An outbox row is added for every channel whose threshold
the score passes; the unique (channel, event_key) key means a later, higher score never
sends the same event to a channel twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.dialect import bulk_insert
from musktracker.db.models import Signal, SignalEvent, SignalState
from musktracker.signals import outbox, render
from musktracker.signals.event import PipelineEvent
from musktracker.signals.features import FEATURE_DEFAULTS
from musktracker.signals.rules import Scored
from musktracker.utc import utcnow

MAX_EVIDENCE = 20


def stored_events(session: Session, keys: Sequence[str]) -> dict[str, SignalEvent]:
    """The events already stored under these keys: their evidence counts feed the rules,
    and `store_scored` updates them."""
    if not keys:
        return {}
    rows = session.scalars(select(SignalEvent).where(SignalEvent.event_key.in_(set(keys))))
    return {row.event_key: row for row in rows}


def _evidence(event: PipelineEvent) -> dict[str, Any]:
    raw = event.raw
    return {
        "source": raw.source,
        "source_id": raw.source_id,
        "account": raw.account,
        "at": raw.created_at.isoformat(),
        "text": raw.text[:280],
        "url": raw.url,
    }


_neutral = FEATURE_DEFAULTS.get  # bound once: this runs for every feature of every event


def snapshot(features: dict[str, Any]) -> dict[str, Any]:
    """The features that differ from their neutral value (the rest are FEATURE_DEFAULTS)."""
    return {k: v for k, v in features.items() if v != _neutral(k)}


# A provider backs a signal when it answered (has_*) with live, not cached, data (*_stale).
_LIVE_DATA = (("has_dex", "dex_stale"), ("has_goplus", "goplus_stale"))


def signal_state(event: PipelineEvent, scored: Scored) -> str:
    """downgraded when the risk is red, verified when a provider answered with live data."""
    if scored.risk_level == "red":
        return SignalState.DOWNGRADED.value
    data = event.enrichment
    if data and any(data.get(has) and not data.get(stale) for has, stale in _LIVE_DATA):
        return SignalState.VERIFIED.value
    return SignalState.CANDIDATE.value


def store_scored(
    session: Session,
    items: Sequence[tuple[PipelineEvent, Scored, dict[str, Any]]],
    thresholds: dict[str, float],
    stored: dict[str, SignalEvent],
) -> int:
    """Write events, signals and outbox rows; returns outbox rows added.

    `stored` is `stored_events` for the items' keys. Only those events can have a signal
    (signals.event_key references events), so only their signals are looked up.
    """
    signals = (
        {
            row.event_key: row
            for row in session.scalars(select(Signal).where(Signal.event_key.in_(stored)))
        }
        if stored
        else {}
    )
    # New events and signals go in as bulk INSERTs (the common case, and the fast path);
    # events seen before are updated through the ORM.
    new_events: dict[str, dict[str, Any]] = {}
    latest: dict[str, tuple[PipelineEvent, Scored, dict[str, Any]]] = {}
    for event, scored, features in items:
        key, at = event.event_key, event.raw.created_at
        if key in stored:
            row = stored[key]
            row.evidence = [*row.evidence, _evidence(event)][-MAX_EVIDENCE:]
            row.evidence_count += 1
            row.last_ts, row.start_ts = max(row.last_ts, at), min(row.start_ts, at)
        elif key in new_events:
            new = new_events[key]
            new["evidence"] = [*new["evidence"], _evidence(event)][-MAX_EVIDENCE:]
            new["evidence_count"] += 1
            new["last_ts"], new["start_ts"] = max(new["last_ts"], at), min(new["start_ts"], at)
        else:
            new_events[key] = {
                "event_key": key,
                "type": event.raw.type,
                "symbol": event.symbol,
                "token_ca": event.token[1] if event.token else None,
                "chain": event.token[0] if event.token else event.raw.chain,
                "summary": render.summary(event),
                "evidence": [_evidence(event)],
                "start_ts": at,
                "last_ts": at,
                "evidence_count": 1,
            }
        latest[key] = (event, scored, features)
    if new_events:
        bulk_insert(session, SignalEvent, list(new_events.values()))
    now = utcnow()
    messages = []
    new_signals = []
    for key, (event, scored, features) in latest.items():
        values = {
            "state": signal_state(event, scored),
            "score": scored.score,
            "risk_level": scored.risk_level,
            "reasons": scored.reasons,
            "features_snapshot": snapshot(features),
            "ts": now,
        }
        signal = signals.get(key)
        if signal is None:
            new_signals.append({"event_key": key, **values})
        else:
            for name, value in values.items():
                setattr(signal, name, value)
        channels = [c for c, threshold in thresholds.items() if scored.score >= threshold]
        if channels:
            message = render.payload(event, scored)
            messages += [(channel, key, message) for channel in channels]
    if new_signals:
        bulk_insert(session, Signal, new_signals)
    session.flush()
    return outbox.enqueue(session, messages)
