"""The message people read: what happened, who, the score and why, and links. Short."""

from __future__ import annotations

from typing import Any

from musktracker.signals.event import PipelineEvent
from musktracker.signals.rules import Scored

_TITLES = {
    "post": "Post",
    "volume_burst": "Posting burst",
    "regime_shift": "Regime shift",
    "sentiment_swing": "Sentiment swing",
    "external": "Event",
}


def summary(event: PipelineEvent) -> str:
    """One line: what happened and who."""
    raw = event.raw
    who = f" by @{raw.account}" if raw.account else ""
    about = ""
    if event.token is not None:
        chain, ca = event.token
        about = f" about {event.symbol or ca} on {chain}"
    elif event.symbol:
        about = f" about ${event.symbol}"
    text = f": {raw.text[:140]}" if raw.text else ""
    return f"{_TITLES[raw.type]}{who}{about}{text}"


def payload(event: PipelineEvent, scored: Scored) -> dict[str, Any]:
    """What the outbox stores and the channels send (the webhook body as is)."""
    raw = event.raw
    links = [u for u in [raw.url, event.enrichment.get("dex_url")] if u] + event.urls[:2]
    reasons = "; ".join(scored.reasons) or "no rule fired"
    message = "\n".join(
        [
            summary(event),
            f"Score {scored.score:g} (risk {scored.risk_level}): {reasons}",
            *links,
        ]
    )
    return {
        "event_key": event.event_key,
        "type": raw.type,
        "source": raw.source,
        "source_id": raw.source_id,
        "account": raw.account,
        "created_at": raw.created_at.isoformat(),
        "symbol": event.symbol,
        "token": list(event.token) if event.token else None,
        "score": scored.score,
        "risk_level": scored.risk_level,
        "reasons": scored.reasons,
        "links": links,
        "message": message,
    }
