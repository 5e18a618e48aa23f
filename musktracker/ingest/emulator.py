"""A local X API v2 emulator: real HTTP on loopback, posts from archive files.

For tests and for trying MuskTracker without a token. It serves the endpoints ingestion
uses, with X's response shapes, pagination (`next_token`), `since_id`/`until_id`,
`start_time`/`end_time`, the timeline's 3,200-post cap, the 7-day window of recent search
and counts, rate-limit headers, stream rules and the filtered stream with keep-alives, and
injects faults on request: 429s, 503s, connections dropped mid-body, malformed JSON or
malformed fields, and a stream that stalls.

Built on the standard library's ThreadingHTTPServer: no new dependency, one thread per
connection (a stream holds its own thread while REST calls go on), and direct control of
the socket, which is what dropping a connection half-way through a body needs.

The emulator's clock is frozen at `now` (default: the newest archived post, rounded up to
the second) so "the last 7 days" means something on 2022-2026 data; it reports that clock
in the `Date` header and rate-limit resets on it. Posts after `now` are what the filtered
stream delivers. Archives carry ids and times only, so kinds and texts are synthesised
from the id, deterministically (30% replies, 10% quotes, 15% reposts).
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from musktracker.ingest.archive import ArchiveError, parse_archive
from musktracker.utc import DAY, HOUR, floor_hour, parse_utc

KNOWN_USER_IDS = {"elonmusk": "44196397"}
TIMELINE_CAP = 3200
SEARCH_WINDOW = 7 * DAY


@dataclass(frozen=True)
class Faults:
    """Fault injection. `*_every = N` hits every Nth request (counted together; stream
    connections count too, and get the 429s and 503s)."""

    rate_limit_every: int = 0
    unavailable_every: int = 0
    drop_every: int = 0
    malformed_every: int = 0
    malformed_kind: str = "json"
    """"json": a truncated body; "schema": valid JSON with a post lacking created_at."""
    reset_seconds: int = 2
    """How far ahead an injected 429 puts the reset."""
    stall_after: int = 0
    """Each stream connection goes silent (no keep-alive either) after this many posts."""
    status: int = 0
    """Answer every request with this status (401 or 403) as X does for bad tokens/plans."""
    forbidden: frozenset[str] = frozenset()
    """Endpoint names answered with 403 (outside the plan): timeline, search, counts, ..."""
    errors_only: frozenset[str] = frozenset()
    """Endpoint names answered with HTTP 200 and only `errors`, as X answers a protected
    account's timeline (not-authorized-for-resource)."""
    reset_scale: int = 1
    """Multiplies an injected 429's `x-rate-limit-reset` (1000: milliseconds, as some
    proxies send it)."""
    repeat_token: bool = False
    """Pages echo the token they were asked with as their next_token (paging never ends)."""


@dataclass(frozen=True)
class EmulatorOptions:
    now: datetime | None = None
    timeline_cap: int = TIMELINE_CAP
    rate_limit: int = 900
    """Calls per endpoint per window; beyond it, a real 429."""
    rate_window_seconds: float = 900.0
    token: str | None = None
    """When set, any other bearer token gets 401."""
    keepalive_seconds: float = 20.0
    stream_interval_seconds: float = 0.05
    faults: Faults = field(default_factory=Faults)


@dataclass
class EmulatedAccount:
    username: str
    user_id: str
    ids: list[int]
    """Post ids, ascending (snowflakes: also time order)."""
    created: list[datetime]
    """created_at of `ids`, same order."""
    times: dict[int, datetime]


def _user_id(username: str) -> str:
    return KNOWN_USER_IDS.get(username, str(1_000_000 + zlib.crc32(username.encode()) % 10**9))


def load_account(spec: str) -> EmulatedAccount:
    """`USERNAME=PATH` or `PATH` (username: the file's folder name, as in data/elonmusk/)."""
    name, sep, raw_path = spec.partition("=")
    path = Path(raw_path if sep else name)
    username = (name if sep else path.parent.name).lower()
    parsed = parse_archive(path)
    if parsed.errors:
        raise ArchiveError(parsed.describe_errors())
    records = sorted(parsed.records, key=lambda r: int(r.tweet_id))
    return EmulatedAccount(
        username=username,
        user_id=_user_id(username),
        ids=[int(r.tweet_id) for r in records],
        created=[r.created_at for r in records],
        times={int(r.tweet_id): r.created_at for r in records},
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def emulated_reference(tweet_id: int) -> tuple[str | None, str]:
    """Deterministic reference type and text for an archived id."""
    slot = (tweet_id >> 22) % 20
    if slot < 6:
        return "replied_to", "@someone emulated reply"
    if slot < 8:
        return "quoted", "emulated quote"
    if slot < 11:
        return "retweeted", "RT @someone: emulated repost"
    return None, "emulated post"


class ApiProblem(Exception):
    """An error answer: status and X-shaped body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _problem(status: int, title: str, detail: str, kind: str = "about:blank") -> ApiProblem:
    return ApiProblem(status, {"title": title, "detail": detail, "type": kind, "status": status})


def _not_found(parameter: str, value: str) -> ApiProblem:
    """X's answer for an unknown (or suspended) user: HTTP 200 with only `errors`."""
    name = "username" if parameter == "username" else "id"
    return ApiProblem(
        200,
        {
            "errors": [
                {
                    "value": value,
                    "detail": f"Could not find user with {name}: [{value}].",
                    "title": "Not Found Error",
                    "resource_type": "user",
                    "parameter": parameter,
                    "resource_id": value,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            ]
        },
    )


def _not_authorized(user_id: str) -> ApiProblem:
    """X's answer for a protected account's timeline: HTTP 200 with only `errors`."""
    return ApiProblem(
        200,
        {
            "errors": [
                {
                    "value": user_id,
                    "detail": f"Sorry, you are not authorized to see the user with id: "
                    f"[{user_id}].",
                    "title": "Authorization Error",
                    "resource_type": "user",
                    "parameter": "id",
                    "resource_id": user_id,
                    "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
                }
            ]
        },
    )


def _invalid_token(parameter: str, token: str) -> ApiProblem:
    """X's 400 for a pagination token it does not accept."""
    return ApiProblem(
        400,
        {
            "errors": [
                {
                    "parameters": {parameter: [token]},
                    "message": f"The `{parameter}` query parameter value [{token}] is not a "
                    "valid pagination token",
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )


@dataclass
class Stats:
    """What the emulator served, for tests to check the faults really happened."""

    requests: int = 0
    rate_limited: int = 0
    unavailable: int = 0
    dropped: int = 0
    malformed: int = 0
    stream_connections: int = 0
    stream_posts: int = 0
    stalls: int = 0


class XEmulator:
    """The emulated API: state, routing and the server."""

    def __init__(
        self, accounts: list[EmulatedAccount], options: EmulatorOptions | None = None
    ) -> None:
        if not accounts:
            raise ValueError("the emulator needs at least one archive")
        self.accounts = {a.username: a for a in accounts}
        self.by_user_id = {a.user_id: a for a in accounts}
        self.options = options or EmulatorOptions()
        newest = max(a.times[a.ids[-1]] for a in accounts if a.ids)
        self.now = self.options.now or datetime.fromtimestamp(
            math.ceil(newest.timestamp()), tz=newest.tzinfo
        )
        self.deleted: set[int] = set()
        self.rules: list[dict[str, str]] = []
        self.stats = Stats()
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self._stream_cursor = {a.username: bisect_right(a.created, self.now) for a in accounts}
        self._last_streamed: dict[str, int] = {}
        self._rule_seq = 1_000_000
        self.stopping = threading.Event()
        self.on_request: Callable[[int], None] | None = None
        """Called with each REST request's number (tests use it to time crashes)."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- server lifecycle -----------------------------------------------------------------

    def bind(self, host: str = "127.0.0.1", port: int = 0) -> str:
        emulator = self

        class Handler(_Handler):
            api = emulator

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None, "bind() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        assert self._server is not None, "bind() first"
        self._server.serve_forever(poll_interval=0.1)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL."""
        self.bind(host, port)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- clock, limits, faults ------------------------------------------------------------

    def epoch(self) -> float:
        return self.now.timestamp()

    def rate_headers(self, endpoint: str) -> dict[str, str]:
        """Count the call against its endpoint's window; raise a real 429 when over."""
        with self._lock:
            started, used = self._windows.get(endpoint, (time.monotonic(), 0))
            if time.monotonic() - started >= self.options.rate_window_seconds:
                started, used = time.monotonic(), 0
            used += 1
            self._windows[endpoint] = (started, used)
            left = self.options.rate_window_seconds - (time.monotonic() - started)
        headers = {
            "x-rate-limit-limit": str(self.options.rate_limit),
            "x-rate-limit-remaining": str(max(self.options.rate_limit - used, 0)),
            "x-rate-limit-reset": str(math.ceil(self.epoch() + left)),
        }
        if used > self.options.rate_limit:
            with self._lock:
                self.stats.rate_limited += 1
            raise _WithHeaders(_problem(429, "Too Many Requests", "Too Many Requests"), headers)
        return headers

    def next_fault(self) -> str | None:
        """Which injected fault (if any) this REST request gets."""
        faults = self.options.faults
        with self._lock:
            self.stats.requests += 1
            n = self.stats.requests
        if self.on_request is not None:
            self.on_request(n)
        for name, every in (
            ("rate_limit", faults.rate_limit_every),
            ("unavailable", faults.unavailable_every),
            ("drop", faults.drop_every),
            ("malformed", faults.malformed_every),
        ):
            if every and n % every == 0:
                return name
        return None

    # -- data -----------------------------------------------------------------------------

    def _account_for_user(self, user_id: str) -> EmulatedAccount:
        account = self.by_user_id.get(user_id)
        if account is None:
            raise _not_found("id", user_id)
        return account

    def tweet(self, account: EmulatedAccount, tweet_id: int) -> dict[str, Any]:
        ref_type, text = emulated_reference(tweet_id)
        body: dict[str, Any] = {
            "id": str(tweet_id),
            "text": f"{text} {tweet_id}",
            "created_at": _iso(account.times[tweet_id]),
            "author_id": account.user_id,
            "edit_history_tweet_ids": [str(tweet_id)],
        }
        if ref_type is not None:
            body["referenced_tweets"] = [{"type": ref_type, "id": str(tweet_id - 4_194_304_000)}]
        return body

    def visible(self, account: EmulatedAccount) -> tuple[list[int], list[datetime]]:
        """Ids that exist at `now`, ascending, and their times."""
        end = bisect_right(account.created, self.now)
        ids, times = account.ids[:end], account.created[:end]
        if self.deleted:
            kept = [k for k, i in enumerate(ids) if i not in self.deleted]
            ids, times = [ids[k] for k in kept], [times[k] for k in kept]
        return ids, times

    def page(
        self,
        account: EmulatedAccount,
        ids: list[int],
        times: list[datetime],
        params: dict[str, str],
        min_results: int,
        token_param: str,
    ) -> dict[str, Any]:
        """Filter ascending `ids` by the query's bounds; newest-first page with next_token."""
        size = int(params.get("max_results", "10"))
        if not min_results <= size <= 100:
            raise _problem(
                400,
                "Invalid Request",
                f"The `max_results` query parameter value [{size}] is not between "
                f"{min_results} and 100",
            )
        lo, hi = 0, len(ids)
        if "since_id" in params:
            lo = max(lo, bisect_right(ids, int(params["since_id"])))
        if "until_id" in params:
            hi = min(hi, bisect_left(ids, int(params["until_id"])))
        if "start_time" in params:
            lo = max(lo, bisect_left(times, parse_utc(params["start_time"], "start_time")))
        if "end_time" in params:
            hi = min(hi, bisect_left(times, parse_utc(params["end_time"], "end_time")))
        if token_param in params:
            hi = min(hi, bisect_left(ids, _decode_token(params[token_param], token_param)))
        chosen = ids[max(lo, hi - size) : hi][::-1] if hi > lo else []
        meta: dict[str, Any] = {"result_count": len(chosen)}
        if chosen:
            meta["newest_id"], meta["oldest_id"] = str(chosen[0]), str(chosen[-1])
            if hi - size > lo:
                meta["next_token"] = _encode_token(chosen[-1])
                if self.options.faults.repeat_token and token_param in params:
                    meta["next_token"] = params[token_param]
        body: dict[str, Any] = {"meta": meta}
        if chosen:
            body["data"] = [self.tweet(account, i) for i in chosen]
        return body

    def search_account(self, query: str) -> EmulatedAccount:
        match = re.fullmatch(r"\s*from:(\w{1,15})\s*", query)
        if match is None or match.group(1).lower() not in self.accounts:
            raise _problem(400, "Invalid Request", f"query {query!r}: emulator supports from:USER")
        return self.accounts[match.group(1).lower()]

    def recent_window(self, params: dict[str, str]) -> dict[str, str]:
        """Recent endpoints only reach back 7 days; earlier start_time is a 400, as on X."""
        floor = self.now - SEARCH_WINDOW
        if "start_time" in params and parse_utc(params["start_time"]) < floor:
            raise _problem(
                400,
                "Invalid Request",
                f"Invalid 'start_time':'{params['start_time']}'. 'start_time' must be on or "
                f"after {_iso(floor)}",
            )
        return {"start_time": _iso(floor), **params}

    def counts(self, params: dict[str, str]) -> dict[str, Any]:
        account = self.search_account(params.get("query", ""))
        bounded = self.recent_window(params)
        start = parse_utc(bounded["start_time"])
        end = parse_utc(bounded["end_time"]) if "end_time" in bounded else self.now
        _, times = self.visible(account)
        data: list[dict[str, Any]] = []
        total = 0
        hour = floor_hour(start)
        while hour < end:
            lo, hi = max(hour, start), min(hour + HOUR, end)
            count = bisect_left(times, hi) - bisect_left(times, lo)
            data.append({"start": _iso(lo), "end": _iso(hi), "tweet_count": count})
            total += count
            hour += HOUR
        return {"data": data, "meta": {"total_tweet_count": total}}

    def lookup(self, params: dict[str, str]) -> dict[str, Any]:
        wanted = [i for i in params.get("ids", "").split(",") if i]
        if not 1 <= len(wanted) <= 100:
            raise _problem(400, "Invalid Request", "ids: give 1 to 100 comma-separated ids")
        found, errors = [], []
        for raw in wanted:
            tweet_id = int(raw)
            owner = next(
                (
                    a
                    for a in self.accounts.values()
                    if tweet_id in a.times and a.times[tweet_id] <= self.now
                ),
                None,
            )
            if owner is None or tweet_id in self.deleted:
                errors.append(
                    {
                        "value": raw,
                        "detail": f"Could not find tweet with ids: [{raw}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": raw,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                )
            else:
                found.append(self.tweet(owner, tweet_id))
        body: dict[str, Any] = {}
        if found:
            body["data"] = found
        if errors:
            body["errors"] = errors
        return body

    def change_rules(self, payload: dict[str, Any]) -> dict[str, Any]:
        sent = _iso(self.now)
        with self._lock:
            if "add" in payload:
                created, errors = [], []
                for rule in payload["add"]:
                    clash = next((r for r in self.rules if r["value"] == rule["value"]), None)
                    if clash is not None:
                        errors.append(
                            {
                                "value": rule["value"],
                                "id": clash["id"],
                                "title": "DuplicateRule",
                                "type": "https://api.twitter.com/2/problems/duplicate-rules",
                            }
                        )
                        continue
                    self._rule_seq += 1
                    new = {"id": str(self._rule_seq), "value": rule["value"]}
                    if rule.get("tag"):
                        new["tag"] = rule["tag"]
                    self.rules.append(new)
                    created.append(new)
                summary = {
                    "created": len(created),
                    "not_created": len(errors),
                    "valid": len(created),
                    "invalid": len(errors),
                }
                body: dict[str, Any] = {"meta": {"sent": sent, "summary": summary}}
                if created:
                    body["data"] = created
                if errors:
                    body["errors"] = errors
                return body
            if "delete" in payload:
                ids = set(payload["delete"].get("ids", []))
                before = len(self.rules)
                self.rules = [r for r in self.rules if r["id"] not in ids]
                deleted = before - len(self.rules)
                summary = {"deleted": deleted, "not_deleted": len(ids) - deleted}
                return {"meta": {"sent": sent, "summary": summary}}
        raise _problem(400, "Invalid Request", "body must have 'add' or 'delete'")

    def rules_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"meta": {"sent": _iso(self.now), "result_count": len(self.rules)}}
        if self.rules:
            body["data"] = list(self.rules)
        return body

    def stream_events(self) -> Iterator[bytes | None]:
        """Stream lines for posts after `now`, for accounts with a rule; None = nothing
        to send yet. A reconnect first repeats the last post sent (X may do the same)."""
        with self._lock:
            repeat = [
                (name, tweet_id)
                for name, tweet_id in self._last_streamed.items()
                if name in self._followed()
            ]
        for name, tweet_id in repeat:
            yield self._stream_line(self.accounts[name], tweet_id)
        while True:
            with self._lock:
                line = None
                for name in self._followed():
                    account = self.accounts[name]
                    cursor = self._stream_cursor[name]
                    if cursor < len(account.ids):
                        self._stream_cursor[name] = cursor + 1
                        self._last_streamed[name] = account.ids[cursor]
                        line = self._stream_line(account, account.ids[cursor])
                        break
            yield line

    def _followed(self) -> list[str]:
        names = []
        for rule in self.rules:
            match = re.fullmatch(r"from:(\w+)", rule["value"])
            if match and match.group(1).lower() in self.accounts:
                names.append(match.group(1).lower())
        return names

    def _stream_line(self, account: EmulatedAccount, tweet_id: int) -> bytes:
        rules = [
            {"id": r["id"], "tag": r.get("tag", "")}
            for r in self.rules
            if r["value"].lower() == f"from:{account.username}"
        ]
        event = {"data": self.tweet(account, tweet_id), "matching_rules": rules}
        return json.dumps(event).encode() + b"\r\n"


class _WithHeaders(Exception):
    def __init__(self, problem: ApiProblem, headers: dict[str, str]) -> None:
        super().__init__(problem.status)
        self.problem = problem
        self.headers = headers


def _encode_token(oldest_served: int) -> str:
    return "pt" + format(oldest_served, "x")


def _decode_token(token: str, parameter: str = "pagination_token") -> int:
    if not token.startswith("pt"):
        raise _invalid_token(parameter, token)
    try:
        return int(token[2:], 16)
    except ValueError:
        raise _invalid_token(parameter, token) from None


_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("GET", "users", re.compile(r"/2/users/by/username/(\w{1,15})")),
    ("GET", "timeline", re.compile(r"/2/users/(\d+)/tweets")),
    ("GET", "search", re.compile(r"/2/tweets/search/recent")),
    ("GET", "counts", re.compile(r"/2/tweets/counts/recent")),
    ("GET", "stream", re.compile(r"/2/tweets/search/stream")),
    ("GET", "rules", re.compile(r"/2/tweets/search/stream/rules")),
    ("POST", "rules", re.compile(r"/2/tweets/search/stream/rules")),
    ("GET", "lookup", re.compile(r"/2/tweets")),
]
ENDPOINTS = tuple(dict.fromkeys(name for _, name, _ in _ROUTES))
"""The endpoint names faults refer to (`Faults.forbidden`, `x-emulator --forbid`)."""


class _Handler(BaseHTTPRequestHandler):
    api: XEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator's callers log what matters."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.api.epoch(), usegmt=True)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        for route_method, name, pattern in _ROUTES:
            match = pattern.fullmatch(url.path)
            if route_method == method and match:
                try:
                    self._route(name, method, match.groups(), params)
                except _WithHeaders as exc:
                    self._send_json(exc.problem.status, exc.problem.body, exc.headers)
                except ApiProblem as exc:
                    self._send_json(exc.status, exc.body)
                except (ValueError, KeyError, json.JSONDecodeError) as exc:
                    self._send_json(400, _problem(400, "Invalid Request", str(exc)).body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                return
        self._send_json(404, _problem(404, "Not Found", f"no route for {method} {url.path}").body)

    def _check_auth(self, name: str) -> None:
        faults = self.api.options.faults
        token = self.api.options.token
        given = self.headers.get("Authorization", "")
        if (
            faults.status == 401
            or not given.startswith("Bearer ")
            or (token is not None and given != f"Bearer {token}")
        ):
            raise _problem(401, "Unauthorized", "Unauthorized")
        if faults.status == 403 or name in faults.forbidden:
            raise ApiProblem(
                403,
                {
                    "title": "Client Forbidden",
                    "detail": "This request must be made using an approved developer account "
                    "that is enrolled in the requested endpoint.",
                    "reason": "client-not-enrolled",
                    "type": "https://api.twitter.com/2/problems/client-forbidden",
                },
            )

    def _route(
        self, name: str, method: str, groups: tuple[str, ...], params: dict[str, str]
    ) -> None:
        api = self.api
        self._check_auth(name)
        headers = api.rate_headers(name)
        fault = api.next_fault()
        if fault == "rate_limit":
            with api._lock:
                api.stats.rate_limited += 1
            headers = {
                **headers,
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(
                    (int(api.epoch()) + api.options.faults.reset_seconds)
                    * api.options.faults.reset_scale
                ),
            }
            raise _WithHeaders(_problem(429, "Too Many Requests", "Too Many Requests"), headers)
        if fault == "unavailable":
            with api._lock:
                api.stats.unavailable += 1
            raise _WithHeaders(_problem(503, "Service Unavailable", "Service Unavailable"), headers)
        if name == "stream":  # 429/503 apply to connecting; a stream fails by stalling
            self._stream(headers)
            return
        if name == "users":
            account = api.accounts.get(groups[0].lower())
            if account is None:
                raise _not_found("username", groups[0])
            body: dict[str, Any] = {
                "data": {
                    "id": account.user_id,
                    "name": account.username,
                    "username": account.username,
                }
            }
        elif name == "timeline":
            account = api._account_for_user(groups[0])
            if name in api.options.faults.errors_only:
                raise _not_authorized(groups[0])
            ids, times = api.visible(account)
            cap = api.options.timeline_cap
            body = api.page(account, ids[-cap:], times[-cap:], params, 5, "pagination_token")
        elif name == "search":
            account = api.search_account(params.get("query", ""))
            ids, times = api.visible(account)
            body = api.page(account, ids, times, api.recent_window(params), 10, "next_token")
        elif name == "counts":
            body = api.counts(params)
        elif name == "lookup":
            body = api.lookup(params)
        elif method == "POST":
            length = int(self.headers.get("Content-Length", "0"))
            body = api.change_rules(json.loads(self.rfile.read(length) or b"{}"))
        else:
            body = api.rules_body()
        if fault == "drop":
            self._drop_mid_body(body, headers)
        elif fault == "malformed":
            self._send_malformed(body, headers)
        else:
            self._send_json(200, body, headers)

    # -- writing --------------------------------------------------------------------------

    def _send_raw(self, status: int, payload: bytes, headers: dict[str, str], length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self._send_raw(status, payload, headers or {}, len(payload))

    def _drop_mid_body(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self.api._lock:
            self.api.stats.dropped += 1
        payload = json.dumps(body).encode()
        self._send_raw(200, payload[: len(payload) // 2], headers, len(payload))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _send_malformed(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self.api._lock:
            self.api.stats.malformed += 1
        if self.api.options.faults.malformed_kind == "schema" and body.get("data"):
            broken = json.loads(json.dumps(body))
            items = broken["data"] if isinstance(broken["data"], list) else [broken["data"]]
            items[-1].pop("created_at", None)
            self._send_json(200, broken, headers)
            return
        payload = json.dumps(body).encode()
        cut = payload[: max(len(payload) * 2 // 3, 1)]
        self._send_raw(200, cut, headers, len(cut))

    def _stream(self, headers: dict[str, str]) -> None:
        api = self.api
        options = api.options
        with api._lock:
            api.stats.stream_connections += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Connection", "close")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        sent = 0
        last_write = time.monotonic()
        stall_after = options.faults.stall_after
        events = api.stream_events()
        try:
            while not api.stopping.is_set():
                if stall_after and sent >= stall_after:
                    with api._lock:
                        api.stats.stalls += 1
                    while not api.stopping.wait(0.05):
                        try:  # silent: no keep-alive; ends when the client hangs up
                            if (
                                self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                                == b""
                            ):
                                return
                        except BlockingIOError:
                            continue
                    return
                line = next(events)
                if line is not None:
                    self.wfile.write(line)
                    self.wfile.flush()
                    sent += 1
                    with api._lock:
                        api.stats.stream_posts += 1
                    last_write = time.monotonic()
                    time.sleep(options.stream_interval_seconds)
                    continue
                if time.monotonic() - last_write >= options.keepalive_seconds:
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()
                    last_write = time.monotonic()
                time.sleep(min(options.stream_interval_seconds, options.keepalive_seconds))
        except (BrokenPipeError, ConnectionResetError):
            return
