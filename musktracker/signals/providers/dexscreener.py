"""DexScreener: liquidity and 1-hour volume of a token's most liquid pair.

`GET {base}/latest/dex/tokens/{address}` answers `{"schemaVersion": "1.0.0", "pairs": [...]}`;
each pair has `chainId`, `baseToken.address`, `priceUsd` (text), `liquidity.usd`,
`volume.h1`/`h24`, `fdv` and `url`. The pair with the most USD liquidity on the token's
chain (any chain if it is unknown) represents the token.
"""

from __future__ import annotations

from typing import Any

import httpx

from musktracker.signals.providers.base import ProviderError, get_json


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


class DexScreenerProvider:
    name = "dex"

    def __init__(self, client: httpx.Client, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    def supports(self, chain: str) -> bool:
        return True

    def fetch(self, chain: str, token_ca: str) -> dict[str, Any]:
        body = get_json(self.client, self.name, f"{self.base_url}/latest/dex/tokens/{token_ca}")
        if not isinstance(body, dict):
            raise ProviderError(self.name, "bad_shape", "expected a JSON object")
        pairs = [p for p in body.get("pairs") or [] if isinstance(p, dict)]
        mine = [
            p
            for p in pairs
            if str((p.get("baseToken") or {}).get("address", "")).lower() == token_ca.lower()
            and (chain == "unknown" or p.get("chainId") == chain)
        ] or pairs
        if not mine:
            return {"has_dex": False, "dex_pair_count": 0}
        best = max(mine, key=lambda p: _number((p.get("liquidity") or {}).get("usd")))
        volume = best.get("volume") or {}
        return {
            "has_dex": True,
            "dex_pair_count": len(mine),
            "dex_liquidity": _number((best.get("liquidity") or {}).get("usd")),
            "dex_volume_1h": _number(volume.get("h1")),
            "dex_volume_24h": _number(volume.get("h24")),
            "dex_price_usd": _number(best.get("priceUsd")),
            "dex_fdv": _number(best.get("fdv")),
            "dex_chain": str(best.get("chainId", "")),
            "dex_url": str(best.get("url", "")),
            "dex_symbol": str((best.get("baseToken") or {}).get("symbol", "")),
        }
