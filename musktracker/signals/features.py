"""The names a rule condition may use, with the neutral value each has when unknown.

Every name is always present (a missing liquidity is 0, a missing risk is 'unknown'), so a
condition never meets None and the set of names is known when the rules file is loaded.
"""

from __future__ import annotations

from typing import Any

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


def rule_features(event: PipelineEvent, evidence_count: int = 1) -> dict[str, Any]:
    """The flat feature dict rules are evaluated on."""
    raw = event.raw
    token = event.token
    features = dict(FEATURE_DEFAULTS)
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
    for name, value in raw.data.items():
        if name in FEATURE_NAMES and value is not None:
            features[name] = value
    for name, value in event.enrichment.items():
        if name in FEATURE_NAMES:
            features[name] = value
    return features
