"""Webhook channel: the payload as JSON, signed so the receiver can trust and dedupe it.

Headers: `Idempotency-Key` (stable per channel and event: a repeat after a crash carries the
same key) and `X-MuskTracker-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body
bytes with WEBHOOK_SECRET. Receivers verify with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from musktracker.signals.notifiers.base import DeliveryResult, parse_retry_after

SIGNATURE_HEADER = "X-MuskTracker-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    channel = "webhook"

    def __init__(self, client: httpx.Client, url: str, secret: str | None) -> None:
        self.client = client
        self.url = url
        self.secret = secret

    def send(self, payload: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        try:
            body = json.dumps(
                payload, sort_keys=True, separators=(",", ":"), allow_nan=False
            ).encode()
        except ValueError as exc:
            # NaN/Infinity are not JSON (strict parsers reject them): nothing is sent, and
            # as a 400-class failure the row goes to dead letters with the reason.
            return DeliveryResult(ok=False, status_code=400, error=f"payload is not JSON: {exc}")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return DeliveryResult(ok=True, status_code=response.status_code)
        return DeliveryResult(
            ok=False,
            status_code=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            error=f"HTTP {response.status_code}: {response.text[:300]}",
        )
