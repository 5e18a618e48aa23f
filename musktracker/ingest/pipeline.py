"""Backfill and incremental ingestion from the X API, crash-safe page by page.

A *run* walks one query from the newest post down to a lower bound, 100 posts a page.
After every page, one transaction stores the page's posts and the run's checkpoint (the
next page's token) in `ingest_state`; a process killed anywhere resumes from the last
committed page and, since inserts ignore stored posts, nothing is lost or doubled. The
last page's transaction also moves the account's high-water mark, refreshes buckets and
features for the run's span, and removes the checkpoint, so a run is finished exactly when
its checkpoint is gone.

`ingest_state` rows per account (endpoint column):
- "timeline": what is covered: `newest_id` (high-water mark, where incremental runs start)
  and `oldest_id` (the exclusive lower bound of the widest finished backfill);
- "timeline-run": an unfinished timeline run: `oldest_id` its `since_id`, `newest_id` the
  newest post it saw, `pagination_token` the next page;
- "search-run": an unfinished recent-search run filling what the timeline's 3,200-post cap
  hid: `oldest_id` its `since_id`, `newest_id` its (exclusive) `until_id`.

Time bounds are expressed as snowflake ids (`snowflake_floor`), so a backfill of N days is
exactly the posts created at or after now - N days, and resuming needs no other state.
"Now" is X's clock (the `Date` header), so windows follow the server, not a skewed host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from musktracker.accounts import AccountError, get_account, id_owner
from musktracker.db.models import Account, IngestState, RawTweet
from musktracker.db.session import session_scope
from musktracker.features.refresh import refresh_after_posts
from musktracker.ingest.client import XClient
from musktracker.ingest.errors import XApiError, XAuthError, XResponseError, XStatusError
from musktracker.ingest.responses import TweetPage
from musktracker.ingest.snowflake import snowflake_floor, snowflake_time
from musktracker.ingest.store import store_api_posts
from musktracker.logging import get_logger
from musktracker.utc import DAY, utcnow

log = get_logger(__name__)

TIMELINE = "timeline"
TIMELINE_RUN = "timeline-run"
SEARCH_RUN = "search-run"
TIMELINE_CAP = 3200
"""X's user timeline only reaches an account's 3,200 most recent posts."""
SEARCH_WINDOW = 7 * DAY
"""Recent search only reaches the last 7 days."""
DEFAULT_BACKFILL_DAYS = 7
SOURCE = "x_api"

ProgressCallback = Callable[[str, datetime, datetime, datetime, int], None]
"""progress(username, lower_time, reached_time, now, posts_inserted_so_far)."""


def look_up_user_id(session: Session, client: XClient, account: Account) -> None:
    """Ask X for the account's user id and record it, refusing an id another tracked account
    already has (a wrong `accounts add --id`): X's answer names both accounts."""
    user = client.user_by_username(account.username)
    if account.x_user_id != user.id:
        other = id_owner(session, user.id, other_than=account.id)
        if other is not None:
            raise AccountError(
                f"X says @{account.username} has user id {user.id}, but that id is "
                f"recorded for @{other.username}; if @{other.username}'s id is wrong, "
                f"clear it with `musktracker accounts set-id {other.username} --clear`"
            )
        account.x_user_id = user.id


@dataclass
class AccountReport:
    username: str
    inserted: int = 0
    pages: int = 0
    features_written: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class _Run:
    endpoint: str
    since_id: int
    until_id: int | None
    token: str | None


def _later(a: str | None, b: str | None) -> str | None:
    """The newer of two ids (ids are numbers in strings; compare as numbers)."""
    values = [int(v) for v in (a, b) if v is not None]
    return str(max(values)) if values else None


class Ingestor:
    """Runs backfills and incremental ingestion for tracked accounts."""

    def __init__(
        self,
        engine: Engine,
        client: XClient,
        store_text: bool = False,
        progress: ProgressCallback | None = None,
        timeline_cap: int = TIMELINE_CAP,
    ) -> None:
        self.engine = engine
        self.client = client
        self.store_text = store_text
        self.progress = progress
        self.timeline_cap = timeline_cap

    # -- entry points ---------------------------------------------------------------------

    def ingest_all(self, usernames: list[str], backfill_days: int | None) -> list[AccountReport]:
        """Ingest each account in turn; one account's failure is reported, not fatal.

        A token problem (401/403) is the same for every account, so it stops the lot.
        Account problems (an X user id recorded for another account) and database errors
        are reported for the account and the next one goes on.
        """
        reports = []
        for name in usernames:
            try:
                reports.append(self.ingest_account(name, backfill_days))
            except XAuthError:
                raise
            except (XApiError, AccountError) as exc:
                log.error("ingest.account_failed", account=name, error=str(exc))
                reports.append(AccountReport(name, error=str(exc)))
            except SQLAlchemyError as exc:
                detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                log.error("ingest.account_failed", account=name, error=detail)
                reports.append(AccountReport(name, error=f"database error: {detail}"))
        return reports

    def ingest_account(self, username: str, backfill_days: int | None) -> AccountReport:
        """Finish any interrupted run, then fetch what is asked: `backfill_days` of history,
        or (None) everything since the newest stored post (7 days if none is stored)."""
        account = self._resolve(username)
        report = AccountReport(account.username)
        now = self.client.server_now or utcnow()
        self._resume(account, report, now)
        since = self._next_since(account, backfill_days, now)
        # The first page's transaction writes the checkpoint: a crash before it leaves no trace.
        self._pages(account, _Run(TIMELINE_RUN, since, None, None), report, now)
        self._resume(account, report, now, interrupted=False)  # search the cap called for
        return report

    # -- planning -------------------------------------------------------------------------

    def _resolve(self, username: str) -> Account:
        """The tracked account with its X user id (looked up and saved when missing). The
        lookup is made every time: it is cheap, checks the token, and reads X's clock."""
        with session_scope(self.engine) as session:
            account = get_account(session, username)
            look_up_user_id(session, self.client, account)
            return account

    def _state(self, session: Session, account_id: int, endpoint: str) -> IngestState | None:
        return session.scalar(
            select(IngestState).where(
                IngestState.account_id == account_id, IngestState.endpoint == endpoint
            )
        )

    def _newest_stored(self, session: Session, account_id: int) -> str | None:
        return session.scalar(
            select(RawTweet.tweet_id)
            .where(RawTweet.account_id == account_id)
            .order_by(RawTweet.created_at.desc())
            .limit(1)
        )

    def _next_since(self, account: Account, backfill_days: int | None, now: datetime) -> int:
        """Lower bound (exclusive id) of the run to make now."""
        with session_scope(self.engine) as session:
            state = self._state(session, account.id, TIMELINE)
            high = (state.newest_id if state else None) or self._newest_stored(session, account.id)
            covered_from = int(state.oldest_id) if state and state.oldest_id else None
        if backfill_days is None:
            if high is not None:
                return int(high)
            backfill_days = DEFAULT_BACKFILL_DAYS
        lower = snowflake_floor(now - timedelta(days=backfill_days))
        if high is not None and covered_from is not None and covered_from <= lower:
            return int(high)  # the asked span is covered already: only newer posts remain
        return lower

    def _resume(
        self, account: Account, report: AccountReport, now: datetime, interrupted: bool = True
    ) -> None:
        """Run any checkpointed run to its end (left by a crash, or planned by the cap)."""
        for endpoint in (TIMELINE_RUN, SEARCH_RUN):
            with session_scope(self.engine) as session:
                state = self._state(session, account.id, endpoint)
                if state is None or state.oldest_id is None:
                    continue
                run = _Run(
                    endpoint,
                    int(state.oldest_id),
                    int(state.newest_id) if endpoint == SEARCH_RUN and state.newest_id else None,
                    state.pagination_token,
                )
            log.info("ingest.resuming", account=account.username, run=endpoint)
            if interrupted:
                report.notes.append(f"resumed an interrupted {endpoint}")
            self._pages(account, run, report, now)

    # -- runs -----------------------------------------------------------------------------

    def _fetch(self, account: Account, run: _Run) -> TweetPage:
        since = str(run.since_id)
        until = str(run.until_id) if run.until_id is not None else None
        if run.endpoint == SEARCH_RUN:
            return self.client.search_recent(
                f"from:{account.username}", since_id=since, until_id=until, next_token=run.token
            )
        assert account.x_user_id is not None
        return self.client.user_timeline(
            account.x_user_id, since_id=since, until_id=until, pagination_token=run.token
        )

    def _pages(self, account: Account, run: _Run, report: AccountReport, now: datetime) -> None:
        """Fetch and commit pages until the run ends; each page is one transaction.

        A checkpoint's token that X refuses (400 about the token: expired, or left by an
        older version) restarts the run from its lower bound without a token; inserts ignore
        stored posts, so nothing is doubled. A token X repeats, or a page that does not go
        further back than the one before, stops the run before the token is saved."""
        lower_time = snowflake_time(run.since_id + 1)
        name = "recent search" if run.endpoint == SEARCH_RUN else "user timeline"
        seen_tokens = {run.token} if run.token is not None else set()
        resumed_token = run.token
        previous_oldest: int | None = None
        while True:
            try:
                page = self._fetch(account, run)
            except XStatusError as exc:
                stale = (
                    exc.status == 400
                    and run.token is not None
                    and run.token == resumed_token
                    and "token" in str(exc).lower()
                )
                if not stale:
                    raise
                log.warning(
                    "ingest.stale_checkpoint_discarded",
                    account=account.username,
                    run=run.endpoint,
                    token=run.token,
                    error=str(exc),
                )
                report.notes.append(
                    f"X refused the saved {run.endpoint} checkpoint; restarted that run"
                )
                run = _Run(run.endpoint, run.since_id, run.until_id, None)
                seen_tokens, resumed_token = set(), None
                continue
            resumed_token = None  # only the checkpoint's own token may be stale
            records = [tweet.record() for tweet in page.data]
            token = page.meta.next_token
            if token is not None and token in seen_tokens:
                raise XResponseError(
                    f"{name}: X returned the next_token {token!r} a second time, so paging "
                    "would never end; stopped (pages before it are saved, and the run resumes "
                    "from the last good one)"
                )
            oldest = min((int(t.id) for t in page.data), default=None)
            if oldest is not None and previous_oldest is not None and oldest >= previous_oldest:
                raise XResponseError(
                    f"{name}: a page (next_token {run.token!r}) went no further back than the "
                    f"one before (oldest id {oldest}, before {previous_oldest}); stopped "
                    "(pages before it are saved)"
                )
            if token is not None:
                seen_tokens.add(token)
            previous_oldest = oldest if oldest is not None else previous_oldest
            finished = token is None
            with session_scope(self.engine) as session:
                result = store_api_posts(
                    session, account.id, records, SOURCE, store_text=self.store_text
                )
                run = _Run(run.endpoint, run.since_id, run.until_id, page.meta.next_token)
                if finished:
                    self._finish(session, account, run, page, report, now)
                else:
                    self._save_checkpoint(session, account.id, run, page.meta.newest_id)
            report.inserted += result.inserted
            report.pages += 1
            if self.progress is not None:
                reached = min((r.created_at for r in records), default=lower_time)
                self.progress(account.username, lower_time, reached, now, report.inserted)
            if finished:
                return

    def _save_checkpoint(
        self, session: Session, account_id: int, run: _Run, newest_seen: str | None
    ) -> None:
        """Point the run's checkpoint at its next page (one UPDATE on every page but the
        first). Pages go from new to old, so the newest post seen is the first page's."""
        where = (IngestState.account_id == account_id, IngestState.endpoint == run.endpoint)
        moved = cast(
            CursorResult[Any],
            session.execute(
                update(IngestState)
                .where(*where)
                .values(pagination_token=run.token, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            ),
        )
        if moved.rowcount:
            return
        until = str(run.until_id) if run.until_id is not None else None
        session.add(
            IngestState(
                account_id=account_id,
                endpoint=run.endpoint,
                oldest_id=str(run.since_id),
                newest_id=until if run.endpoint == SEARCH_RUN else newest_seen,
                pagination_token=run.token,
                updated_at=utcnow(),
            )
        )
        session.flush()

    def _clear_checkpoint(self, session: Session, account_id: int, endpoint: str) -> None:
        session.execute(
            delete(IngestState).where(
                IngestState.account_id == account_id, IngestState.endpoint == endpoint
            )
        )

    def _finish(
        self,
        session: Session,
        account: Account,
        run: _Run,
        page: TweetPage,
        report: AccountReport,
        now: datetime,
    ) -> None:
        """Close a run in the transaction of its last page."""
        checkpoint = self._state(session, account.id, run.endpoint)
        newest_seen = _later(checkpoint.newest_id if checkpoint else None, page.meta.newest_id)
        self._clear_checkpoint(session, account.id, run.endpoint)
        coverage = self._state(session, account.id, TIMELINE)
        if coverage is None:
            coverage = IngestState(account_id=account.id, endpoint=TIMELINE)
            session.add(coverage)
        lower = run.since_id
        if run.endpoint == TIMELINE_RUN:
            coverage.newest_id = _later(coverage.newest_id, newest_seen)
            oldest_seen = min((int(t.id) for t in page.data), default=None)
            if oldest_seen is not None and self._capped(session, account.id, oldest_seen):
                lower = self._after_cap(session, account, run, oldest_seen, report, now)
        old_from = int(coverage.oldest_id) if coverage.oldest_id else None
        old_high = int(coverage.newest_id) if coverage.newest_id else None
        contiguous = old_from is not None and old_high is not None and lower <= old_high
        coverage.oldest_id = str(min(old_from, lower) if contiguous and old_from else lower)
        coverage.pagination_token = None
        coverage.updated_at = utcnow()
        self._refresh(session, account.id, run, report)

    def _capped(self, session: Session, account_id: int, oldest_seen: int) -> bool:
        """Did the timeline stop because of its cap rather than the lower bound?"""
        seen = session.scalar(
            select(func.count())
            .select_from(RawTweet)
            .where(
                RawTweet.account_id == account_id,
                RawTweet.created_at >= snowflake_time(oldest_seen),
            )
        )
        return (seen or 0) >= self.timeline_cap

    def _after_cap(
        self,
        session: Session,
        account: Account,
        run: _Run,
        oldest_seen: int,
        report: AccountReport,
        now: datetime,
    ) -> int:
        """Plan the recent-search run that fills what the cap hid; returns the lower bound
        now covered. A part that recent search cannot reach either becomes the account's
        error (reported after this transaction commits what was fetched)."""
        hidden_from = snowflake_time(run.since_id + 1)
        hidden_to = snowflake_time(oldest_seen)
        # X's clock now (not at the run's start): the window has moved on since then.
        search_floor = snowflake_floor((self.client.server_now or now) - SEARCH_WINDOW)
        since = max(run.since_id, search_floor)
        if since < oldest_seen:
            search = _Run(SEARCH_RUN, since, oldest_seen, None)
            self._clear_checkpoint(session, account.id, SEARCH_RUN)
            self._save_checkpoint(session, account.id, search, newest_seen=None)
            report.notes.append(
                f"the timeline's {self.timeline_cap}-post cap hid posts from "
                f"{hidden_from:%Y-%m-%d %H:%M} to {hidden_to:%Y-%m-%d %H:%M} UTC; "
                "fetching them with recent search"
            )
        if run.since_id < search_floor:
            report.error = (
                f"X's user timeline returns only the {self.timeline_cap} most recent posts and "
                f"recent search only the last 7 days, so posts of @{account.username} from "
                f"{hidden_from:%Y-%m-%d %H:%M} to "
                f"{min(hidden_to, snowflake_time(search_floor)):%Y-%m-%d %H:%M} UTC cannot be "
                "fetched from the API; import them from an archive (`musktracker import`)"
            )
        return since if since < oldest_seen else oldest_seen - 1

    def _refresh(self, session: Session, account_id: int, run: _Run, report: AccountReport) -> None:
        """Refresh buckets and features over every stored post the run's bounds cover."""
        conditions = [
            RawTweet.account_id == account_id,
            RawTweet.created_at >= snowflake_time(run.since_id + 1),
            RawTweet.tweet_id != str(run.since_id),  # the exclusive bound itself
        ]
        if run.until_id is not None:
            conditions.append(RawTweet.created_at < snowflake_time(run.until_id))
        lo, hi = session.execute(
            select(func.min(RawTweet.created_at), func.max(RawTweet.created_at)).where(*conditions)
        ).one()
        if lo is not None:
            report.features_written += refresh_after_posts(
                session, account_id, (lo, hi)
            ).features_written
