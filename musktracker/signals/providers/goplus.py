"""GoPlus token security: risk flags and taxes of an EVM token.

`GET {base}/api/v1/token_security/{chain_id}?contract_addresses={address}` answers
`{"code": 1, "message": "OK", "result": {"<address lower-case>": {...}}}` with every value
as text: flags are "0"/"1", `buy_tax`/`sell_tax` are fractions ("0.05" is 5%). The flags are
condensed into one risk level: red for what makes a token unsellable or rug-ready, yellow
for what allows the owner to change the rules later, green otherwise.
"""

from __future__ import annotations

from typing import Any

import httpx

from musktracker.signals.providers.base import ProviderError, get_json

CHAIN_IDS = {
    "ethereum": "1",
    "bsc": "56",
    "polygon": "137",
    "arbitrum": "42161",
    "optimism": "10",
    "base": "8453",
    "avalanche": "43114",
}
RED_FLAGS = ("is_honeypot", "cannot_sell_all", "cannot_buy", "hidden_owner", "selfdestruct")
YELLOW_FLAGS = (
    "is_mintable",
    "is_proxy",
    "can_take_back_ownership",
    "owner_change_balance",
    "transfer_pausable",
    "is_blacklisted",
    "slippage_modifiable",
    "external_call",
)


def _tax(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def assess(report: dict[str, Any]) -> dict[str, Any]:
    """Features and risk level from one token's GoPlus report."""
    red = [f for f in RED_FLAGS if report.get(f) == "1"]
    yellow = [f for f in YELLOW_FLAGS if report.get(f) == "1"]
    if report.get("is_open_source") == "0":
        yellow.append("not_open_source")
    buy, sell = _tax(report.get("buy_tax")), _tax(report.get("sell_tax"))
    if max(buy, sell) >= 0.5:
        red.append("tax_50pct_or_more")
    elif max(buy, sell) > 0.1:
        yellow.append("tax_over_10pct")
    risk = "red" if red else "yellow" if yellow else "green"
    return {
        "has_goplus": True,
        "goplus_risk": risk,
        "goplus_buy_tax": buy,
        "goplus_sell_tax": sell,
        "goplus_is_honeypot": report.get("is_honeypot") == "1",
        "goplus_flag_count": len(red) + len(yellow),
        "goplus_flags": red + yellow,
    }


class GoPlusProvider:
    name = "goplus"

    def __init__(self, client: httpx.Client, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    def supports(self, chain: str) -> bool:
        return chain in CHAIN_IDS

    def fetch(self, chain: str, token_ca: str) -> dict[str, Any]:
        url = f"{self.base_url}/api/v1/token_security/{CHAIN_IDS[chain]}"
        body = get_json(self.client, self.name, url, contract_addresses=token_ca)
        if not isinstance(body, dict) or body.get("code") != 1:
            message = body.get("message") if isinstance(body, dict) else "bad shape"
            raise ProviderError(self.name, "api_error", f"GoPlus answered {message!r}")
        result = body.get("result") or {}
        report = result.get(token_ca.lower()) or result.get(token_ca)
        if not isinstance(report, dict):
            return {"has_goplus": False}
        return assess(report)
