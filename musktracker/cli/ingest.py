"""`musktracker ingest`: posts from the X API v2 (backfill, incremental, deletions, stream)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from musktracker.accounts import get_account, list_accounts
from musktracker.cli import interrupts
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import (
    console,
    database,
    err_console,
    fail,
    handle_errors,
    noun,
    settings,
)
from musktracker.config import Settings
from musktracker.db.session import session_scope
from musktracker.ingest.client import XClient
from musktracker.ingest.consumers import IngestedPost, consumers
from musktracker.ingest.counts import compare_counts
from musktracker.ingest.deletions import verify_deletions
from musktracker.ingest.errors import XApiError
from musktracker.ingest.pipeline import AccountReport, Ingestor
from musktracker.ingest.stream import Shutdown, StreamBackoff, StreamIngestor
from musktracker.signals.factory import build_pipeline
from musktracker.signals.sources.posts import SignalPostConsumer

P = ParamSpec("P")
R = TypeVar("R")


def _x_errors(func: Callable[P, R]) -> Callable[P, R]:
    """X API failures become one clear line and exit 1, like every expected error."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except XApiError as exc:
            raise fail(str(exc)) from None

    return wrapper


class PrintConsumer:
    """Prints each streamed post (the consumer behind `--print`)."""

    def on_post(self, post: IngestedPost) -> None:
        console.print(
            f"{post.created_at:%Y-%m-%d %H:%M:%S} @{post.username} {post.kind.value:8} "
            f"{post.tweet_id} {escape(repr(post.text[:80]))}",
            highlight=False,
        )


class BackfillProgress:
    """A bar per account, measured in time walked back towards the lower bound."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def __call__(
        self, username: str, lower: datetime, reached: datetime, now: datetime, inserted: int
    ) -> None:
        total = max((now - lower).total_seconds(), 1.0)
        if username not in self.tasks:
            self.tasks[username] = self.bar.add_task(f"@{username}", total=total)
        done = min(max((now - reached).total_seconds(), 0.0), total)
        self.bar.update(
            self.tasks[username], completed=done, description=f"@{username}: {inserted} new"
        )


def _usernames(account: str | None, all_accounts: bool) -> list[str]:
    if account is not None and all_accounts:  # --all won silently, ingesting every account
        raise fail(f"--account {account} and --all: give one (--all is the default without "
                   "--account)")
    with session_scope(database()) as session:
        if account is not None:
            return [get_account(session, account).username]
        names = [a.username for a in list_accounts(session)]
    if not names:
        raise fail("no tracked accounts; add one with `musktracker accounts add USERNAME`")
    return names


def _print_reports(reports: list[AccountReport]) -> None:
    table = Table("account", "new posts", "pages", "feature rows", "notes")
    for r in reports:
        # X's messages put values in brackets ("[elonmusk]"): escape, or Rich drops them.
        notes = "; ".join(
            [escape(n) for n in r.notes] + ([f"[red]{escape(r.error)}[/red]"] if r.error else [])
        )
        table.add_row(
            "@" + r.username, str(r.inserted), str(r.pages), str(r.features_written), notes
        )
    console.print(table)


INTERRUPTED = (
    "interrupted: every page fetched so far is saved; run the same command again to resume "
    "where it stopped (buckets and features are refreshed when the run finishes)"
)


def _backfill(current: Settings, names: list[str], backfill_days: int | None) -> None:
    try:
        reports = _run_backfill(current, names, backfill_days)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (exit 143 then)
        err_console.print(INTERRUPTED, highlight=False)
        raise typer.Exit(interrupts.exit_code(exc)) from None
    _print_reports(reports)
    failed = [r for r in reports if r.error]
    if failed:
        raise fail(" | ".join(f"@{r.username}: {r.error}" for r in failed))


def _run_backfill(
    current: Settings, names: list[str], backfill_days: int | None
) -> list[AccountReport]:
    with (
        XClient.from_settings(current) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=backfill_days is None,
        ) as bar,
    ):
        ingestor = Ingestor(
            database(), client, current.store_post_text, progress=BackfillProgress(bar)
        )
        return ingestor.ingest_all(names, backfill_days)


def _deletions(current: Settings, names: list[str], days: int) -> None:
    with XClient.from_settings(current) as client:
        for name in names:
            report = verify_deletions(database(), client, name, days)
            shown = ", ".join(report.deleted[:10]) + (" ..." if len(report.deleted) > 10 else "")
            console.print(
                f"@{report.username}: {report.checked} {noun(report.checked, 'post')} of the "
                f"last {days} {noun(days, 'day')} checked, "
                f"{len(report.deleted)} no longer on X, marked deleted"
                + (f" ({shown})" if report.deleted else "")
            )


def _check_counts(current: Settings, names: list[str]) -> None:
    with XClient.from_settings(current) as client:
        for name in names:
            checks = compare_counts(database(), client, name)
            differ = [c for c in checks if c.our_count != c.x_count]
            console.print(
                f"@{name}: {len(checks)} {noun(len(checks), 'hour')} compared with X's counts, "
                f"{len(differ)} {noun(len(differ), 'differs', 'differ')}"
            )
            if differ:
                table = Table("hour (UTC)", "X", "ours")
                for c in differ[:48]:
                    ours = "-" if c.our_count is None else str(c.our_count)
                    table.add_row(f"{c.hour:%Y-%m-%d %H:00}", str(c.x_count), ours)
                console.print(table)


def _stream(
    current: Settings,
    names: list[str],
    show: bool,
    with_sentiment: bool,
    with_signals: bool,
    every_account: bool,
) -> None:
    if show:
        consumers.register(PrintConsumer())
    if with_sentiment:
        # Imported here: torch and transformers load only when sentiment is asked for.
        from musktracker.sentiment.services import consumer as sentiment_consumer

        consumers.register(sentiment_consumer(current, database()))
    if with_signals:
        consumers.register(SignalPostConsumer(build_pipeline(current, database())))
    backoff = StreamBackoff(scale=current.x_stream_backoff_scale)
    with XClient.from_settings(current) as client, Shutdown().installed() as shutdown:
        streamer = StreamIngestor(
            database(),
            client,
            consumers,
            store_text=current.store_post_text,
            stall_seconds=current.x_stream_stall_seconds,
            backoff=backoff,
            follow_tracked=every_account,
            account_check_seconds=current.x_stream_account_check_seconds,
        )
        left_out = streamer.prepare(names)
        for name, reason in left_out.items():
            console.print(f"[yellow]not streaming @{name}:[/] {escape(reason)}")
        followed = [n for n in names if n not in left_out]
        console.print(
            f"streaming posts of {_handles(followed)}"
            + (" and of accounts added while it runs" if every_account else "")
            + "; Ctrl-C stops"
        )
        report = streamer.run(shutdown)
    console.print(
        f"stream stopped: {report.received} received, {report.stored} new, "
        f"{report.duplicates} {noun(report.duplicates, 'duplicate')}, "
        f"{report.reconnects} {noun(report.reconnects, 'reconnect')}"
        + "".join(
            f"; {what}: {_handles(who)}"
            for what, who in (
                ("joined", report.joined),
                ("removed", report.removed),
                ("not streamed", list(report.left_out)),
            )
            if who
        )
    )


def _handles(names: list[str]) -> str:
    return ", ".join("@" + name for name in names)


@handle_errors
@_x_errors
def ingest(
    account: str | None = typer.Option(None, "--account", "-a", help="One tracked account."),
    all_accounts: bool = typer.Option(
        False, "--all", help="Every tracked account (the default when --account is absent)."
    ),
    backfill_days: int | None = typer.Option(
        None,
        "--backfill-days",
        min=1,
        help="Fetch this many days of history (X's free tier reaches 7). Without it: every "
        "post since the newest stored one (7 days when none is stored).",
    ),
    verify: bool = typer.Option(
        False, "--verify-deletions", help="Soft-delete stored posts X no longer returns."
    ),
    days: int = typer.Option(7, "--days", min=1, help="How far back --verify-deletions looks."),
    stream: bool = typer.Option(
        False,
        "--stream",
        help="Follow the filtered stream until Ctrl-C / SIGTERM. Without --account, accounts "
        "added or removed meanwhile join or leave it within X_STREAM_ACCOUNT_CHECK_SECONDS.",
    ),
    show: bool = typer.Option(False, "--print", help="With --stream: print each post."),
    with_sentiment: bool = typer.Option(
        False,
        "--sentiment",
        help="With --stream: score each post with the champion sentiment model as it "
        "arrives and store the prediction (text is kept only if STORE_POST_TEXT is on).",
    ),
    with_signals: bool = typer.Option(
        False,
        "--signals",
        help="With --stream: send each post, with its text, through the signals pipeline "
        "as it arrives (works with STORE_POST_TEXT off).",
    ),
    check_counts: bool = typer.Option(
        False, "--check-counts", help="Compare X's hourly counts (last 7 days) with ours."
    ),
) -> None:
    """Fetch posts from the X API v2 into the database; repeating a run adds nothing.

    Progress is committed page by page, so an interrupted run resumes where it stopped.
    Buckets and features are refreshed for the span touched. X_API_BASE_URL and
    X_BEARER_TOKEN select the API (see `musktracker x-emulator` to try it locally).

    Example: musktracker ingest --account elonmusk --backfill-days 7
    """
    current = settings()
    names = _usernames(account, all_accounts)
    if stream:
        _stream(current, names, show, with_sentiment, with_signals, every_account=account is None)
    elif verify:
        _deletions(current, names, days)
    elif check_counts:
        _check_counts(current, names)
    else:
        _backfill(current, names, backfill_days)


app = typer.Typer()
app.command(name="ingest")(ingest)

if __name__ == "__main__":
    run_module(app)
