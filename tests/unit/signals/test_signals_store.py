from __future__ import annotations

from datetime import UTC, datetime

import pytest

from musktracker.signals.event import PipelineEvent, RawEvent
from musktracker.signals.rules import Scored
from musktracker.signals.store import signal_state


@pytest.mark.parametrize(
    ("risk", "enrichment", "state"),
    [
        ("red", {"has_dex": True}, "downgraded"),
        ("green", {}, "candidate"),
        ("green", {"has_dex": True}, "verified"),
        ("green", {"has_dex": True, "dex_stale": True}, "candidate"),
        ("unknown", {"has_dex": True, "dex_stale": True, "has_goplus": True}, "verified"),
        ("yellow", {"has_goplus": False, "dex_liquidity": 5.0}, "candidate"),
    ],
)
def test_signal_state(risk: str, enrichment: dict[str, object], state: str) -> None:
    raw = RawEvent(source="t", source_id="1", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    event = PipelineEvent(raw=raw, enrichment=enrichment)
    assert signal_state(event, Scored(score=1, reasons=[], fired=[], risk_level=risk)) == state
