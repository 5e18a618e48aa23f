"""The names a rule condition may use, with the neutral value each has when unknown.

Every name is always present (a missing liquidity is 0, a missing risk is 'unknown'), so a
condition never meets None and the set of names is known when the rules file is loaded.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # event.py validates `data` against the names below
    from musktracker.signals.event import PipelineEvent

FEATURE_DEFAULTS: dict[str, Any] = {
    "type": "",
    "source": "",
    "account": "",
    "lang": "",
    "text_length": 0,
    "sentiment": 0.0,
    "has_sentiment": False,
    "symbol": "",
    "cashtag_count": 0,
    "has_contract": False,
    "chain": "",
    "url_count": 0,
    "evidence_count": 1,
    "has_dex": False,
    "dex_liquidity": 0.0,
    "dex_volume_1h": 0.0,
    "dex_volume_24h": 0.0,
    "dex_price_usd": 0.0,
    "dex_fdv": 0.0,
    "dex_pair_count": 0,
    "dex_stale": False,
    "has_goplus": False,
    "goplus_risk": "unknown",
    "goplus_buy_tax": 0.0,
    "goplus_sell_tax": 0.0,
    "goplus_is_honeypot": False,
    "goplus_flag_count": 0,
    "goplus_stale": False,
    "volume_actual": 0.0,
    "volume_upper": 0.0,
    "volume_ratio": 0.0,
    "negative_share": 0.0,
    "negative_share_usual": 0.0,
}

FEATURE_NAMES = frozenset(FEATURE_DEFAULTS)

COMPUTED_FEATURES = frozenset(
    {
        "type", "source", "account", "lang", "text_length", "sentiment", "has_sentiment",
        "symbol", "cashtag_count", "has_contract", "chain", "url_count", "evidence_count",
    }
)  # fmt: skip
"""What the pipeline works out itself (`rule_features`): an event's `data` may not set them."""

RISK_LEVELS = frozenset({"unknown", "green", "yellow", "red"})


def data_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be the feature `name` in an event's `data`, or None if it can.

    Names the pipeline computes are refused; a feature takes the type of its neutral value
    (a finite number, a boolean, text; `goplus_risk` a known level). Other names are not
    features and are ignored by the rules, but a number must still be finite.
    """
    if value is None:
        return None
    if name in COMPUTED_FEATURES:
        return f"{name!r} is computed by the pipeline and cannot be set in data"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not math.isfinite(value):  # type: ignore[arg-type]
        return "must be a finite number"
    if name not in FEATURE_NAMES:
        return None
    default = FEATURE_DEFAULTS[name]
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int | float):
        return None if number else "must be a number"
    if not isinstance(value, str):
        return "must be a string"
    if name == "goplus_risk" and value not in RISK_LEVELS:
        return f"must be one of {', '.join(sorted(RISK_LEVELS))}"
    return None


def rule_features(event: PipelineEvent, evidence_count: int = 1) -> dict[str, Any]:
    """The flat feature dict rules are evaluated on."""
    raw = event.raw
    token = event.token
    features = dict(FEATURE_DEFAULTS)
    # `data` first: what the pipeline computes below always wins (RawEvent refuses those
    # names in `data` already; this keeps it so for events built without validation).
    for name, value in raw.data.items():
        if name in FEATURE_NAMES and value is not None:
            features[name] = value
    features.update(
        type=raw.type,
        source=raw.source,
        account=raw.account or "",
        lang=event.lang or "",
        text_length=len(raw.text),
        sentiment=event.sentiment if event.sentiment is not None else 0.0,
        has_sentiment=event.sentiment is not None,
        symbol=event.symbol or "",
        cashtag_count=len(event.cashtags),
        has_contract=token is not None,
        chain=token[0] if token else (raw.chain or ""),
        url_count=len(event.urls),
        evidence_count=evidence_count,
    )
    for name, value in event.enrichment.items():
        if name in FEATURE_NAMES:
            features[name] = value
    return features
