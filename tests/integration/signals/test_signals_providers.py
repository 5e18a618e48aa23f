"""DexScreener and GoPlus clients against loopback servers with the real response shapes."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.db.models import OnchainFeature
from musktracker.db.session import session_scope
from musktracker.signals.enrich import Enricher
from musktracker.signals.metrics import EXTERNAL_ERRORS
from musktracker.signals.providers.dexscreener import DexScreenerProvider
from musktracker.signals.providers.goplus import GoPlusProvider
from tests.integration.signals.signals_servers import Reply, Request, http_server

TOKEN = "0x940181a94a35a4569e4529a3cdfb74e38fd98631"


def dex_pair(chain: str, liquidity: float, volume_h1: float) -> dict[str, object]:
    """The shape of one pair in DexScreener's /latest/dex/tokens answer."""
    return {
        "chainId": chain,
        "dexId": "uniswap",
        "url": f"https://dexscreener.com/{chain}/0x3d5d",
        "pairAddress": "0x3d5D143381916280ff91407FeBEB52f2b60f33Cf",
        "labels": ["v3"],
        "baseToken": {"address": "0x" + TOKEN[2:].upper(), "name": "Aero", "symbol": "AERO"},
        "quoteToken": {"address": "0x4200", "name": "Wrapped Ether", "symbol": "WETH"},
        "priceNative": "0.0002853",
        "priceUsd": "0.7207",
        "txns": {"h1": {"buys": 3, "sells": 174}},
        "volume": {"h24": 565343.15, "h6": 118622.87, "h1": volume_h1, "m5": 5.99},
        "priceChange": {"m5": -0.28, "h1": -1.25},
        "liquidity": {"usd": liquidity, "base": 934179, "quote": 136.43},
        "fdv": 1192919481,
        "marketCap": 600319879,
        "pairCreatedAt": 1696424985000,
    }


GOPLUS_REPORT = {
    "code": 1,
    "message": "OK",
    "result": {
        TOKEN: {
            "buy_tax": "0",
            "sell_tax": "0.2",
            "is_honeypot": "0",
            "is_open_source": "1",
            "is_mintable": "0",
            "is_proxy": "0",
            "token_symbol": "AERO",
            "holder_count": "1200",
        }
    },
}


def test_dexscreener_and_goplus_shapes() -> None:
    def dex(request: Request, _: int) -> Reply:
        assert request.path == f"/latest/dex/tokens/{TOKEN}"
        pairs = [dex_pair("base", 1017969.4, 4244.69), dex_pair("base", 20.0, 1.0)]
        return Reply(200, {"schemaVersion": "1.0.0", "pairs": pairs})

    def goplus(request: Request, _: int) -> Reply:
        assert request.path == f"/api/v1/token_security/8453?contract_addresses={TOKEN}"
        return Reply(200, GOPLUS_REPORT)

    with (
        http_server(dex) as (dex_url, _),
        http_server(goplus) as (gp_url, _),
        httpx.Client(timeout=2) as client,
    ):
        features = DexScreenerProvider(client, dex_url).fetch("base", TOKEN)
        security = GoPlusProvider(client, gp_url).fetch("base", TOKEN)
    assert features["dex_liquidity"] == 1017969.4
    assert features["dex_volume_1h"] == 4244.69
    assert features["dex_price_usd"] == 0.7207
    assert features["dex_pair_count"] == 2
    assert security["goplus_risk"] == "yellow"  # 20% sell tax
    assert security["goplus_sell_tax"] == 0.2


def test_breaker_and_cached_fallback(engine: Engine) -> None:
    """Good answers are cached; then 5xx and timeouts open the breaker and the cache serves."""
    mode = {"dex": "ok"}

    def dex(request: Request, _: int) -> Reply:
        if mode["dex"] == "500":
            return Reply(500, {"error": "down"})
        if mode["dex"] == "slow":
            return Reply(200, {"pairs": []}, delay=1.5)
        return Reply(200, {"schemaVersion": "1.0.0", "pairs": [dex_pair("base", 777.0, 5.0)]})

    with http_server(dex) as (dex_url, recorder), httpx.Client(timeout=0.5) as client:
        enricher = Enricher(
            engine,
            [DexScreenerProvider(client, dex_url)],
            timeout=0.5,
            fresh_seconds=0,  # always ask, so failures show
            breaker_failures=2,
            breaker_cooldown=60,
        )
        lookup = ("dex", "base", TOKEN)
        first = enricher.lookup_all({lookup})[lookup]
        assert first["dex_liquidity"] == 777.0 and "dex_stale" not in first
        with session_scope(engine) as session:
            cached = session.scalars(select(OnchainFeature)).one()
            assert cached.features["dex_liquidity"] == 777.0

        errors_before = EXTERNAL_ERRORS.labels(provider="dex", code="500")._value.get()
        mode["dex"] = "500"
        second = enricher.lookup_all({lookup})[lookup]
        assert second["dex_liquidity"] == 777.0 and second["dex_stale"] is True
        assert EXTERNAL_ERRORS.labels(provider="dex", code="500")._value.get() == errors_before + 1

        mode["dex"] = "slow"
        third = enricher.lookup_all({lookup})[lookup]
        assert third["dex_stale"] is True
        assert enricher.breakers["dex"].state == "open"

        calls = len(recorder.requests)
        fourth = enricher.lookup_all({lookup})[lookup]
        assert fourth["dex_stale"] is True
        assert len(recorder.requests) == calls  # open breaker: no call went out
        enricher.close()
