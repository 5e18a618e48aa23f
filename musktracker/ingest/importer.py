"""Archive import: parse, then store the posts and refresh buckets and features in one
transaction, so a failed import leaves the database exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.accounts import get_account
from musktracker.db.models import Account, RawTweet
from musktracker.features.refresh import refresh_after_posts
from musktracker.ingest.archive import (
    ArchiveError,
    ArchiveFormat,
    LineError,
    ProgressCallback,
    parse_archive,
)
from musktracker.ingest.store import store_posts

ID_BATCH = 2000
"""Ids per query when looking for posts stored for other accounts (bound parameters)."""


def stored_for_others(session: Session, account_id: int, tweet_ids: list[str]) -> dict[str, str]:
    """Of these post ids, those stored for another account, with its handle. An X post has
    one author: importing another account's file stored its posts a second time, under the
    wrong account, and every count, forecast and signal of that account took them in."""
    found: dict[str, str] = {}
    for start in range(0, len(tweet_ids), ID_BATCH):
        batch = tweet_ids[start : start + ID_BATCH]
        rows = session.execute(
            select(RawTweet.tweet_id, Account.username)
            .join(Account, Account.id == RawTweet.account_id)
            .where(RawTweet.tweet_id.in_(batch), RawTweet.account_id != account_id)
        )
        found.update({tweet_id: username for tweet_id, username in rows})
    return found


@dataclass(frozen=True)
class ImportReport:
    path: Path
    read: int
    inserted: int
    already_stored: int
    duplicates_in_file: int
    skipped: list[LineError]
    features_written: int


def import_archive(
    session: Session,
    username: str,
    path: Path,
    fmt: ArchiveFormat | None = None,
    skip_bad: bool = False,
    store_text: bool = False,
    progress: ProgressCallback | None = None,
    on_storing: Callable[[], None] | None = None,
) -> ImportReport:
    """Import an archive file for an account. Without `skip_bad`, any bad line aborts the
    import before anything is written; with it, bad lines are skipped and reported.

    `progress` follows the reading of the file; `on_storing` is called once reading is
    done and storing (posts, buckets, features) begins."""
    account = get_account(session, username)
    parsed = parse_archive(path, fmt, progress)
    others = stored_for_others(session, account.id, [r.tweet_id for r in parsed.records])
    if others:
        parsed.drop({
            tweet_id: f"tweet_id {tweet_id} is already stored for @{owner}; a post has one "
            f"author (is this @{owner}'s file, or is --account {account.username} wrong?)"
            for tweet_id, owner in others.items()
        })
    if parsed.errors and not skip_bad:
        raise ArchiveError(
            f"{parsed.describe_errors()}; nothing was imported "
            "(use --skip-bad to import the good lines)"
        )
    if on_storing is not None:
        on_storing()
    result = store_posts(
        session, account.id, parsed.records, source="archive", store_text=store_text
    )
    features = 0
    if result.span is not None:
        features = refresh_after_posts(session, account.id, result.span).features_written
    return ImportReport(
        path=path,
        read=len(parsed.records),
        inserted=result.inserted,
        already_stored=len(parsed.records) - result.inserted,
        duplicates_in_file=parsed.duplicates,
        skipped=parsed.errors,
        features_written=features,
    )
