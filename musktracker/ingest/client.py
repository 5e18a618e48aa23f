"""X API v2 client on httpx: the endpoints ingestion needs, with rate limits and retries.

Synchronous on purpose: every caller is sequential (a page's `next_token` is needed to ask
for the next page, a stream is one long connection read line by line) and writes through
synchronous SQLAlchemy sessions, so async would add an event loop and buy no concurrency.

Failure policy, in one place:
- every response's rate-limit headers are read; calls slow down before the window runs out;
- 429: wait until `x-rate-limit-reset` (logged), then try again, a bounded number of times;
  a reset that is not a plausible epoch (milliseconds, or more than a window ahead) is
  treated as missing (fixed fallback wait), and no wait exceeds `max_reset_wait`;
- 5xx, timeouts and dropped connections: exponential backoff with jitter (tenacity), bounded;
- 401/403: stop at once with what the token or the plan lacks;
- a body that does not match X's documented shape: XResponseError naming the field;
- HTTP 200 with only `errors` (X's way to say "no such user", "suspended", "protected"):
  XRefusedError with X's own title and detail.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from musktracker.config import Settings
from musktracker.ingest.errors import (
    XAuthError,
    XRateLimitError,
    XRefusedError,
    XResponseError,
    XStatusError,
    XUnavailableError,
)
from musktracker.ingest.ratelimit import RateLimit
from musktracker.ingest.responses import (
    Counts,
    Rules,
    StreamEvent,
    TweetLookup,
    TweetPage,
    User,
    UserLookup,
    parse_body,
)
from musktracker.logging import get_logger

log = get_logger(__name__)

TWEET_FIELDS = "created_at,referenced_tweets,author_id"
PAGE_SIZE = 100
LOOKUP_BATCH = 100
RESET_MARGIN = 0.5
"""Seconds added to a 429's reset: X's reset is whole seconds, clocks are not."""
RATE_WINDOW_SECONDS = 15 * 60.0
"""X's rate-limit window; a reset further ahead than this (plus a minute) is implausible."""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; tests shrink the waits."""

    attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 60.0
    jitter: float = 1.0
    rate_limit_waits: int = 3
    """429s in a row for one call before giving up."""
    fallback_reset_wait: float = 60.0
    """Wait after a 429 that carries no (plausible) reset header."""
    max_reset_wait: float = RATE_WINDOW_SECONDS + 60.0
    """No wait for a reset is longer: X's windows are 15 minutes."""


class _Transient(Exception):
    """A failure worth retrying: 5xx, timeout, dropped connection."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_params(
    since_id: str | None, until_id: str | None, start_time: datetime | None,
    end_time: datetime | None,
) -> dict[str, Any]:
    """The paging and time bounds the timeline and recent search share (they differ only in
    how they name the next-page token)."""
    return {
        "max_results": PAGE_SIZE,
        "tweet.fields": TWEET_FIELDS,
        "since_id": since_id,
        "until_id": until_id,
        "start_time": _iso(start_time),
        "end_time": _iso(end_time),
    }


def _detail(response: httpx.Response) -> str:
    """X's own explanation from an error body, if it gave one."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("title", "detail", "reason") if body.get(k)]
    for err in body.get("errors") or []:
        if isinstance(err, dict) and err.get("message"):
            parts.append(str(err["message"]))
    return "; ".join(parts)


NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


def _refusal(response: httpx.Response, endpoint: str) -> XRefusedError | None:
    """X's error for a 200 whose body has `errors` and no `data`, e.g. for an unknown user
    {"errors":[{"title":"Not Found Error","detail":"Could not find user with username:
    [x].","type":".../resource-not-found",...}]}; None for any other body."""
    try:
        body = jsonlib.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict) or "data" in body:
        return None
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    if not errors:
        return None
    first = errors[0]
    words = ": ".join(
        str(first[k]) for k in ("title", "detail") if first.get(k)
    ) or str(first.get("message") or first)
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    kind = first.get("type")
    return XRefusedError(
        f"{endpoint}: {words}{more}", kind if isinstance(kind, str) else None
    )


def _strip_endpoint(exc: Exception) -> str:
    return str(exc).split(": ", 1)[-1]


def auth_error(response: httpx.Response, endpoint: str) -> XAuthError:
    """Say what the token or plan lacks, in words a user can act on."""
    detail = _detail(response)
    if response.status_code == 401:
        return XAuthError(
            f"{endpoint}: X rejected the bearer token (401 Unauthorized: {detail}). "
            "X_BEARER_TOKEN is wrong, expired or revoked; copy the app's Bearer Token from "
            "the X developer portal"
        )
    return XAuthError(
        f"{endpoint}: X refused the request (403 Forbidden: {detail}). The token is valid but "
        "its app or access plan does not include this endpoint: the app must belong to a "
        "Project, and user timelines, recent counts and the filtered stream need a paid "
        "(Basic or Pro) plan"
    )


class XClient:
    """One X API v2 connection pool; use as a context manager."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise XAuthError("X_BEARER_TOKEN is not set; ingestion needs an X API bearer token")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._limits: dict[str, RateLimit] = {}
        self.server_now: datetime | None = None
        """X's clock from the last response's Date header."""
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "musktracker"},
            timeout=httpx.Timeout(timeout),
        )

    @classmethod
    def from_settings(cls, settings: Settings, policy: RetryPolicy | None = None) -> XClient:
        token = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
        return cls(
            settings.x_api_base_url,
            token,
            timeout=settings.x_api_timeout_seconds,
            policy=policy
            or RetryPolicy(
                attempts=settings.x_api_max_attempts,
                initial_wait=settings.x_api_backoff_seconds,
                jitter=settings.x_api_backoff_seconds,
            ),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------

    def _pace(self, endpoint: str) -> None:
        limit = self._limits.get(endpoint)
        if limit is None:
            return
        pause = limit.pause_before_next(self._clock())
        if pause > 0:
            log.info(
                "x_api.slowing_down",
                endpoint=endpoint,
                remaining=limit.remaining,
                limit=limit.limit,
                pause_seconds=round(pause, 2),
            )
            self._sleep(pause)

    def _send_once(self, method: str, path: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        self._pace(endpoint)
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            log.warning("x_api.transport_error", endpoint=endpoint, error=repr(exc))
            raise _Transient(f"{exc.__class__.__name__}: {exc}") from exc
        limit = self._read_clock_and_limit(response)
        if limit is not None:
            self._limits[endpoint] = limit
        else:
            self._limits.pop(endpoint, None)
        if response.status_code >= 500:
            log.warning("x_api.server_error", endpoint=endpoint, status=response.status_code)
            raise _Transient(f"HTTP {response.status_code}: {_detail(response)}")
        return response

    def _read_clock_and_limit(self, response: httpx.Response) -> RateLimit | None:
        """Note X's clock, and the endpoint's rate limit with its reset moved onto our clock
        (reset minus X's Date is how long to wait, whatever our clock says)."""
        skew = 0.0
        x_now = self._clock()
        date = response.headers.get("date")
        if date:
            try:
                self.server_now = parsedate_to_datetime(date).astimezone(UTC)
                x_now = self.server_now.timestamp()
                skew = self._clock() - x_now
            except (TypeError, ValueError):
                pass
        limit = RateLimit.from_headers(response.headers)
        if limit is None:
            return None
        # The reset must be epoch seconds within one window of X's clock; anything else
        # (milliseconds, seconds-until, a far-off time) is treated as missing.
        ahead = limit.reset_at - x_now
        if not -RATE_WINDOW_SECONDS <= ahead <= self.policy.max_reset_wait:
            log.warning(
                "x_api.implausible_rate_limit_reset",
                reset=response.headers.get("x-rate-limit-reset"),
                seconds_ahead=round(ahead, 1),
            )
            return None
        return limit.shifted(skew)

    def _send(self, method: str, path: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        """Send with bounded backoff for transient failures; 429s wait for the reset."""
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_exponential(multiplier=self.policy.initial_wait, max=self.policy.max_wait)
            + wait_random(0, self.policy.jitter),
            sleep=self._sleep,
        )
        for attempt in range(self.policy.rate_limit_waits + 1):
            try:
                response = retrying(self._send_once, method, path, endpoint, **kwargs)
            except RetryError as exc:
                cause = exc.last_attempt.exception()
                raise XUnavailableError(
                    f"{endpoint}: X did not answer after {self.policy.attempts} attempts "
                    f"(last: {cause}); nothing from the failed call was stored"
                ) from None
            if response.status_code != 429:
                return response
            if attempt < self.policy.rate_limit_waits:  # no wait after the last try
                self._wait_for_reset(endpoint)
        raise XRateLimitError(
            f"{endpoint}: still rate limited (429) after {self.policy.rate_limit_waits} waits "
            "for the window to reset; try again later"
        )

    def _wait_for_reset(self, endpoint: str) -> None:
        limit = self._limits.get(endpoint)
        wait = (
            limit.seconds_to_reset(self._clock()) + RESET_MARGIN
            if limit is not None
            else self.policy.fallback_reset_wait
        )
        wait = min(wait, self.policy.max_reset_wait)
        until = datetime.fromtimestamp(self._clock() + wait, tz=UTC)
        log.warning(
            f"rate limited until {until:%Y-%m-%d %H:%M:%S} UTC",
            endpoint=endpoint,
            until=until.isoformat(timespec="seconds"),
            wait_seconds=round(wait, 1),
            reset_header=limit is not None,
        )
        self._sleep(wait)

    def _call(
        self,
        model: type[M],
        endpoint: str,
        path: str,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> M:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        response = self._send(method, path, endpoint, params=clean, json=json)
        if response.status_code in (401, 403):
            raise auth_error(response, endpoint)
        if response.status_code >= 400:
            raise XStatusError(
                response.status_code,
                f"{endpoint}: X answered HTTP {response.status_code}: {_detail(response)}",
            )
        try:
            return parse_body(model, response.content, endpoint)
        except XResponseError:
            refused = _refusal(response, endpoint)
            if refused is not None:
                raise refused from None
            raise

    # -- endpoints ------------------------------------------------------------------------

    def user_by_username(self, username: str) -> User:
        try:
            return self._call(UserLookup, "user lookup", f"/2/users/by/username/{username}").data
        except XRefusedError as exc:
            if exc.kind == NOT_FOUND:
                raise XRefusedError(
                    f"user lookup: X has no user {username!r} ({_strip_endpoint(exc)})",
                    exc.kind,
                ) from None
            raise

    def user_timeline(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        pagination_token: str | None = None,
    ) -> TweetPage:
        """One page (up to 100 posts, newest first) of `/2/users/:id/tweets`."""
        params = {
            **_page_params(since_id, until_id, start_time, end_time),
            "pagination_token": pagination_token,
        }
        return self._call(TweetPage, "user timeline", f"/2/users/{user_id}/tweets", params=params)

    def search_recent(
        self,
        query: str,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        next_token: str | None = None,
    ) -> TweetPage:
        """One page of `/2/tweets/search/recent` (the last 7 days only)."""
        params = {
            "query": query,
            **_page_params(since_id, until_id, start_time, end_time),
            "next_token": next_token,
        }
        return self._call(TweetPage, "recent search", "/2/tweets/search/recent", params=params)

    def counts_recent(self, query: str, start_time: datetime, end_time: datetime) -> Counts:
        """Hourly post counts from `/2/tweets/counts/recent`."""
        params = {
            "query": query,
            "granularity": "hour",
            "start_time": _iso(start_time),
            "end_time": _iso(end_time),
        }
        return self._call(Counts, "recent counts", "/2/tweets/counts/recent", params=params)

    def lookup_tweets(self, ids: Sequence[str]) -> TweetLookup:
        """Posts by id (at most 100); ids X no longer has come back as partial errors."""
        if not 1 <= len(ids) <= LOOKUP_BATCH:
            raise ValueError(f"tweet lookup takes 1 to {LOOKUP_BATCH} ids, got {len(ids)}")
        params = {"ids": ",".join(ids), "tweet.fields": TWEET_FIELDS}
        return self._call(TweetLookup, "tweet lookup", "/2/tweets", params=params)

    def stream_rules(self) -> Rules:
        return self._call(Rules, "stream rules", "/2/tweets/search/stream/rules")

    def add_stream_rules(self, rules: Sequence[tuple[str, str]]) -> Rules:
        """Add (value, tag) rules."""
        body = {"add": [{"value": value, "tag": tag} for value, tag in rules]}
        return self._call(
            Rules, "stream rules", "/2/tweets/search/stream/rules", method="POST", json=body
        )

    def delete_stream_rules(self, ids: Sequence[str]) -> Rules:
        body = {"delete": {"ids": list(ids)}}
        return self._call(
            Rules, "stream rules", "/2/tweets/search/stream/rules", method="POST", json=body
        )

    @contextmanager
    def stream(self, stall_seconds: float) -> Iterator[Iterator[StreamEvent | None]]:
        """Connect to the filtered stream once; yields events, None for each keep-alive.

        A read that waits `stall_seconds` for a byte raises httpx.ReadTimeout: X sends a
        keep-alive newline every 20 seconds, so silence that long means a dead connection.
        Reconnecting is the caller's job (see stream.py), which is why there is no retry here.
        """
        endpoint = "filtered stream"
        timeout = httpx.Timeout(self.timeout, read=stall_seconds)
        params = {"tweet.fields": TWEET_FIELDS}
        with self._http.stream(
            "GET", "/2/tweets/search/stream", params=params, timeout=timeout
        ) as response:
            if response.status_code in (401, 403):
                response.read()
                raise auth_error(response, endpoint)
            if response.status_code == 429:
                raise XRateLimitError(f"{endpoint}: rate limited (429)")
            if response.status_code >= 400:
                response.read()
                raise XStatusError(
                    response.status_code,
                    f"{endpoint}: X answered HTTP {response.status_code}: {_detail(response)}",
                )
            yield (
                parse_body(StreamEvent, line, endpoint) if line.strip() else None
                for line in response.iter_lines()
            )
