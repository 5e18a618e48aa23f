"""The filtered stream: one rule per tracked account, posts stored as they arrive and then
handed to the registered consumers, reconnecting the way X asks clients to.

X's guidance (docs.x.com, "Handling disconnections"): when an established connection drops,
reconnect at once; if that fails, back off: network errors linearly by 250 ms up to 16 s,
HTTP errors exponentially from 5 s up to 320 s, 429s exponentially from 60 s. X sends a
keep-alive newline every 20 s, so 20 s of silence means the connection is dead. The
stream may repeat a post or deliver posts out of order: inserts ignore stored posts, and
consumers are only called for posts that were new.

A post is *acknowledged* once its transaction commits. SIGINT/SIGTERM set a flag; if the
signal arrives while a post is being stored and published, that post is finished first.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from musktracker.accounts import AccountError, get_account, list_accounts
from musktracker.db.models import Account
from musktracker.db.session import session_scope
from musktracker.features.refresh import refresh_after_posts
from musktracker.ingest.client import XClient
from musktracker.ingest.consumers import ConsumerRegistry, IngestedPost
from musktracker.ingest.errors import (
    XApiError,
    XRateLimitError,
    XRefusedError,
    XResponseError,
    XStatusError,
)
from musktracker.ingest.pipeline import look_up_user_id
from musktracker.ingest.responses import StreamEvent
from musktracker.ingest.store import store_api_posts
from musktracker.logging import get_logger

log = get_logger(__name__)

RULE_TAG_PREFIX = "musktracker:"
SOURCE = "x_stream"


@dataclass(frozen=True)
class StreamBackoff:
    """X's reconnection waits; `scale` shrinks them all (tests run them in milliseconds)."""

    network_step: float = 0.25
    network_max: float = 16.0
    http_initial: float = 5.0
    http_max: float = 320.0
    rate_limit_initial: float = 60.0
    rate_limit_max: float = 960.0
    scale: float = 1.0

    def network(self, failures: int) -> float:
        """Wait before reconnect number `failures` (1 = first failed reconnect) after a
        network error; linear, as X asks, since such errors usually clear quickly."""
        return min(self.network_step * failures, self.network_max) * self.scale

    def http(self, failures: int) -> float:
        return min(self.http_initial * 2.0 ** (failures - 1), self.http_max) * self.scale

    def rate_limited(self, failures: int) -> float:
        return (
            min(self.rate_limit_initial * 2.0 ** (failures - 1), self.rate_limit_max) * self.scale
        )


class ShutdownRequested(BaseException):
    """SIGINT/SIGTERM arrived; a BaseException so no `except Exception` swallows it."""


class Shutdown:
    """Turns SIGINT/SIGTERM into a clean stop that never abandons a post half-handled."""

    def __init__(self) -> None:
        self.requested = False
        self._busy = False

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stream.shutdown_requested", signal=signal.Signals(signum).name)
        self.requested = True
        if not self._busy:
            raise ShutdownRequested

    @contextmanager
    def installed(self) -> Iterator[Shutdown]:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A section a signal must not cut: the signal is noted and acted on afterwards."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
        if self.requested:
            raise ShutdownRequested


def sync_rules(client: XClient, usernames: list[str]) -> None:
    """Make the stream's rules exactly one `from:USER` rule per tracked account, leaving
    rules that MuskTracker did not create (other tags) alone."""
    wanted = {RULE_TAG_PREFIX + name: f"from:{name}" for name in usernames}
    ours = {
        rule.tag: rule
        for rule in client.stream_rules().data
        if rule.tag is not None and rule.tag.startswith(RULE_TAG_PREFIX)
    }
    stale = [rule.id for tag, rule in ours.items() if wanted.get(tag) != rule.value]
    if stale:
        client.delete_stream_rules(stale)
    missing = [
        (value, tag) for tag, value in wanted.items() if tag not in ours or ours[tag].id in stale
    ]
    if missing:
        added = client.add_stream_rules(missing)
        if added.errors:
            problems = "; ".join(f"{e.title}: {e.detail or e.value}" for e in added.errors)
            raise XApiError(f"stream rules: X refused some rules: {problems}")
    log.info("stream.rules_synced", rules=len(wanted), removed=len(stale), added=len(missing))


@dataclass
class StreamReport:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    reconnects: int = 0
    joined: list[str] = field(default_factory=list)
    """Accounts added (`accounts add`) while streaming and followed since."""
    removed: list[str] = field(default_factory=list)
    """Accounts removed (`accounts remove`) while streaming and no longer followed."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Accounts X refused (unknown or suspended handle, ...), each with the reason."""


class StreamIngestor:
    """Consumes the filtered stream until a signal (or `max_posts`, for tests).

    With `follow_tracked` the stream follows whatever is tracked: every
    `account_check_seconds` it looks at the accounts table, follows accounts added since
    and lets go of removed ones (X applies rule changes to the open connection). Without
    it, the stream follows the accounts it was prepared with and stops when the last of
    them is removed."""

    def __init__(
        self,
        engine: Engine,
        client: XClient,
        registry: ConsumerRegistry,
        store_text: bool = False,
        stall_seconds: float = 20.0,
        backoff: StreamBackoff | None = None,
        max_posts: int | None = None,
        follow_tracked: bool = False,
        account_check_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.client = client
        self.registry = registry
        self.store_text = store_text
        self.stall_seconds = stall_seconds
        self.backoff = backoff or StreamBackoff()
        self.max_posts = max_posts
        self.follow_tracked = follow_tracked
        self.account_check_seconds = account_check_seconds
        self.report = StreamReport()
        self._by_user: dict[str, Account] = {}
        self._by_tag: dict[str, Account] = {}
        self._refused: dict[int, str | None] = {}
        """Accounts X refused, by id, with the X user id they had then: one is tried again
        when its id changes (`accounts set-id`), not at every look."""
        self._accounts_checked = time.monotonic()

    def prepare(self, usernames: list[str]) -> dict[str, str]:
        """Resolve accounts' X user ids and sync the rules. An account X refuses (unknown or
        suspended handle, an id recorded for another account) is left out, so one dead
        account does not stop the stream of all the others; returns those left out, each
        with the reason. Raises when none is left."""
        with session_scope(self.engine) as session:
            for name in usernames:
                self._follow(session, get_account(session, name))
        if not self._by_user:
            raise XApiError(
                "stream: no account to follow: "
                + "; ".join(f"@{name}: {reason}" for name, reason in self.report.left_out.items())
            )
        sync_rules(self.client, self._followed())
        self._accounts_checked = time.monotonic()
        return self.report.left_out

    def _follow(self, session: Session, account: Account) -> bool:
        """Follow `account`, looking its X user id up if it is not recorded; False (and the
        reason in the report) when X refuses it."""
        if account.x_user_id is None:
            try:
                look_up_user_id(session, self.client, account)
            except (XRefusedError, AccountError) as exc:
                self._refused[account.id] = account.x_user_id
                self.report.left_out[account.username] = str(exc)
                log.warning("stream.account_left_out", account=account.username, reason=str(exc))
                return False
        assert account.x_user_id is not None
        self._by_user[account.x_user_id] = account
        self._by_tag[RULE_TAG_PREFIX + account.username] = account
        return True

    def _followed(self) -> list[str]:
        return [a.username for a in self._by_user.values()]

    def run(self, shutdown: Shutdown) -> StreamReport:
        """Read, store, publish, reconnect; returns when asked to stop."""
        try:
            self._loop(shutdown)
        except ShutdownRequested:
            log.info("stream.stopped", **vars(self.report))
        return self.report

    def _loop(self, shutdown: Shutdown) -> None:
        network = http = limited = 0
        while not shutdown.requested:
            connected = False
            try:
                with self.client.stream(self.stall_seconds) as events:
                    connected = True
                    network = http = limited = 0
                    log.info("stream.connected")
                    for event in events:
                        if event is not None:
                            self._handle(event, shutdown)
                            if (
                                self.max_posts is not None
                                and self.report.received >= self.max_posts
                            ):
                                return
                        if self.follow_tracked:
                            self._check_accounts()
                        elif not self._by_user:
                            log.warning("stream.no_account_left")
                            return
                wait = 0.0  # the server ended the stream: reconnect at once
            except XRateLimitError:
                limited += 1
                wait = self.backoff.rate_limited(limited)
            except XStatusError as exc:
                http += 1
                wait = self.backoff.http(http)
                log.warning("stream.http_error", status=exc.status)
            except (httpx.TransportError, XResponseError) as exc:
                network += 1
                # A dropped live connection is retried at once; failed reconnects back off.
                wait = 0.0 if connected else self.backoff.network(network)
                log.warning("stream.disconnected", error=repr(exc), dead_after=self.stall_seconds)
            self.report.reconnects += 1
            log.info("stream.reconnecting", wait_seconds=round(wait, 3))
            if wait:
                time.sleep(wait)  # a signal interrupts this by raising ShutdownRequested

    def _account(self, event: StreamEvent) -> Account | None:
        author = event.data.author_id
        if author is not None and author in self._by_user:
            return self._by_user[author]
        for rule in event.matching_rules:
            if rule.tag in self._by_tag:
                return self._by_tag[rule.tag]
        return None

    def _check_accounts(self) -> None:
        """Every `account_check_seconds`: follow accounts tracked since the last look, let go
        of removed ones (at once rather than at their next post) and make the rules on X
        match (one rules read when nothing changed). An X error here is logged and the
        rules are synced at the next look; the stream goes on."""
        if time.monotonic() - self._accounts_checked < self.account_check_seconds:
            return
        self._accounts_checked = time.monotonic()
        followed = {a.id for a in self._by_user.values()}
        try:
            with session_scope(self.engine) as session:
                tracked = list_accounts(session)
                for account in tracked:
                    refused = account.id in self._refused and (
                        self._refused[account.id] == account.x_user_id
                    )
                    if account.id in followed or refused or not self._follow(session, account):
                        continue
                    self._refused.pop(account.id, None)
                    self.report.left_out.pop(account.username, None)
                    self.report.joined.append(account.username)
                    log.info("stream.account_added", account=account.username)
            self._let_go(followed - {a.id for a in tracked})
            sync_rules(self.client, self._followed())
        except (XApiError, httpx.TransportError) as exc:
            log.warning("stream.account_check_failed", error=str(exc))

    def _removed(self, account: Account) -> bool:
        """Whether `account` was removed (`accounts remove`) while streaming; if so, stop
        following it and drop its rule, instead of the stream dying on the foreign key."""
        with session_scope(self.engine) as session:
            if session.get(Account, account.id) is not None:  # ids are never reused
                return False
        self._let_go({account.id})
        sync_rules(self.client, self._followed())
        return True

    def _let_go(self, account_ids: set[int]) -> None:
        """Stop following removed accounts (their rules go at the next sync)."""
        for account in self._by_user.values():
            if account.id in account_ids:
                self.report.removed.append(account.username)
                log.warning("stream.account_removed", account=account.username)
        self._by_user = {k: a for k, a in self._by_user.items() if a.id not in account_ids}
        self._by_tag = {k: a for k, a in self._by_tag.items() if a.id not in account_ids}

    def _handle(self, event: StreamEvent, shutdown: Shutdown) -> None:
        self.report.received += 1
        account = self._account(event)
        if account is None:
            log.warning("stream.unknown_author", tweet=event.data.id, author=event.data.author_id)
            return
        record = event.data.record()
        with shutdown.critical():
            try:
                with session_scope(self.engine) as session:
                    result = store_api_posts(
                        session, account.id, [record], SOURCE, store_text=self.store_text
                    )
                    if result.span is not None:
                        refresh_after_posts(session, account.id, result.span)
            except Exception:  # a foreign key violation: SQLAlchemy's, or psycopg's from COPY
                if not self._removed(account):
                    raise
                return
            if result.inserted:
                self.report.stored += 1
                self.registry.publish(
                    IngestedPost(
                        account_id=account.id,
                        username=account.username,
                        tweet_id=record.tweet_id,
                        created_at=record.created_at,
                        kind=record.kind,
                        text=event.data.text,
                    )
                )
            else:
                self.report.duplicates += 1
