"""Telegram channel: Bot API `sendMessage`, at most about one message per second per chat.

Telegram reports flood control as HTTP 429 with `parameters.retry_after` (seconds) in the
JSON body; that value (or the Retry-After header) becomes the wait before the next try.

Telegram refuses a text longer than 4,096 characters with a 400 (a dead letter): a longer
message (an overlong URL in a post) is cut to fit, ending in "…", counting UTF-16 code units
(an emoji is two), which is never fewer than Telegram's count.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import httpx

from musktracker.signals.notifiers.base import DeliveryResult, parse_retry_after

MAX_TEXT_UNITS = 4096
"""Telegram's limit on a message's text, in UTF-16 code units."""


def fit_text(text: str, limit: int = MAX_TEXT_UNITS) -> str:
    """`text` cut to at most `limit` UTF-16 code units, ending in "…" when cut.

    The message's summary and score come first and its links last, so a cut loses links
    (an overlong URL), not what happened."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    units = 1  # the ellipsis
    for end, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:end] + "…"
    return text


class TelegramNotifier:
    channel = "telegram"

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        token: str,
        chat_id: str,
        min_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id
        self.min_interval = min_interval
        self._last_sent = 0.0
        self._lock = threading.Lock()

    def _wait_turn(self) -> None:
        with self._lock:
            pause = self._last_sent + self.min_interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._last_sent = time.monotonic()

    def send(self, payload: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        self._wait_turn()
        body = {
            "chat_id": self.chat_id,
            "text": fit_text(str(payload["message"])),
            "disable_web_page_preview": True,
        }
        try:
            response = self.client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        answer = _object(response)
        if response.status_code == 200 and answer.get("ok") is True:
            return DeliveryResult(ok=True, status_code=200)
        parameters = answer.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        wait = (
            float(retry_after)
            if isinstance(retry_after, int | float)
            and not isinstance(retry_after, bool)
            and math.isfinite(retry_after)
            and retry_after >= 0
            else parse_retry_after(response.headers.get("Retry-After"))
        )
        description = answer.get("description")
        if not (isinstance(description, str) and description):
            description = response.text[:300]
        return DeliveryResult(
            ok=False,
            status_code=response.status_code,
            retry_after=wait,
            error=f"HTTP {response.status_code}: {description}",
        )


def _object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; {} when it is not JSON or not an object (a proxy's `[]`)."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
