"""Tracked accounts: adding, finding, listing, removing them and correcting their X user id."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, func, select, update
from sqlalchemy.orm import Session

from musktracker.db.models import Account, Base, ModelMetadata, RawTweet, SignalCheckpoint

_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class AccountError(ValueError):
    """An account name or id is invalid, unknown or already taken."""


def normalize_username(username: str) -> str:
    """Lower-case handle without '@'; X handles are 1-15 letters, digits or underscores."""
    name = username.strip().removeprefix("@")
    if not _USERNAME.match(name):
        raise AccountError(
            f"username {username!r} is not a valid X handle (1-15 letters, digits or '_')"
        )
    return name.lower()


MAX_USER_ID = 2**64 - 1
"""X ids are 64-bit integers; anything larger is a typo (and overflowed the column: a
PostgreSQL DataError traceback beyond 32 digits)."""


def normalize_user_id(x_user_id: str) -> str:
    """An X user id as stored: ASCII digits only, without leading zeros, so "0044196397"
    and "44196397" are the same id (and "٤٤١", digits of another script, is refused)."""
    text = x_user_id.strip()
    if not text or not text.isascii() or not text.isdigit():
        raise AccountError(f"X user id {x_user_id!r} is not a number made of digits 0-9")
    if int(text) > MAX_USER_ID:
        raise AccountError(f"X user id {x_user_id!r} is larger than any X id (2**64 - 1)")
    return str(int(text))


def id_owner(session: Session, x_user_id: str, other_than: int | None = None) -> Account | None:
    """The tracked account that already has this X user id (besides `other_than`)."""
    query = select(Account).where(Account.x_user_id == x_user_id)
    if other_than is not None:
        query = query.where(Account.id != other_than)
    return session.scalar(query)


def add_account(session: Session, username: str, x_user_id: str | None = None) -> Account:
    """Track a new account; refuses a duplicate handle or X user id."""
    name = normalize_username(username)
    if x_user_id is not None:
        x_user_id = normalize_user_id(x_user_id)
    if session.scalar(select(Account).where(Account.username == name)) is not None:
        raise AccountError(f"account {name!r} is already tracked")
    if x_user_id is not None:
        other = id_owner(session, x_user_id)
        if other is not None:
            raise AccountError(f"X user id {x_user_id} already belongs to {other.username!r}")
    account = Account(username=name, x_user_id=x_user_id)
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, username: str) -> Account:
    """The tracked account with this handle, or a clear error naming it."""
    name = normalize_username(username)
    account = session.scalar(select(Account).where(Account.username == name))
    if account is None:
        raise AccountError(
            f"account {name!r} is not tracked; add it with `musktracker accounts add {name}`"
        )
    return account


def set_user_id(session: Session, username: str, x_user_id: str | None) -> Account:
    """Correct (or, with None, forget) an account's X user id; ingestion looks up a missing
    id by handle. Refuses an id another tracked account has."""
    account = get_account(session, username)
    if x_user_id is not None:
        x_user_id = normalize_user_id(x_user_id)
        other = id_owner(session, x_user_id, other_than=account.id)
        if other is not None:
            raise AccountError(f"X user id {x_user_id} already belongs to {other.username!r}")
    account.x_user_id = x_user_id
    session.flush()
    return account


def list_accounts(session: Session) -> list[Account]:
    """Every tracked account, by handle."""
    return list(session.scalars(select(Account).order_by(Account.username)))


# --- Removing an account -------------------------------------------------------------------

ROW_KINDS: dict[str, str] = {
    "raw_tweets": "posts",
    "time_buckets": "time buckets",
    "features": "feature rows",
    "exogenous_events": "exogenous events of this account only",
    "model_metadata": "model fits",
    "forecasts": "forecast hours",
    "backtest_results": "backtest windows",
    "regime_shifts": "regime shifts",
    "sentiment_predictions": "sentiment predictions",
    "ingest_state": "ingestion checkpoints",
}
"""How the preview names each table's rows; a table not listed here (a future one) is shown
by its table name, so nothing referring to an account is ever left out of the count."""

POST_CHECKPOINT = "posts"
"""The signals post source's checkpoint (signals/sources/posts.py): the last raw_tweets.id
it read."""


def account_tables() -> list[tuple[Table, str]]:
    """Every table with a foreign key to accounts.id and that key's column, in the preview's
    order. Read from the schema, not listed by hand, so a new per-account table is counted
    (its key has ON DELETE CASCADE like every other, see docs/SCHEMA.md)."""
    found: list[tuple[Table, str]] = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table.name == Account.__tablename__:
                found.append((table, key.parent.name))
    order = list(ROW_KINDS)
    return sorted(
        found, key=lambda t: (order.index(t[0].name) if t[0].name in order else len(order),
                              t[0].name)
    )


@dataclass(frozen=True)
class Removal:
    """What removing one account deletes: its rows per table and its model artifact files."""

    account_id: int
    username: str
    rows: dict[str, int]
    """Rows per table name (every table referring to accounts, zeros included)."""
    artifacts: tuple[Path, ...] = ()
    """Files deleted once the rows are gone: those its model fits name, and the `.pkl` files
    in its own folder `ARTIFACT_DIR/<account id>`."""
    shared: tuple[Path, ...] = ()
    """Files another account's model fits also name: kept."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def lines(self) -> list[str]:
        """The non-empty kinds, one per line, as the CLI shows them."""
        shown = [f"{n:,} {ROW_KINDS.get(t, t)}" for t, n in self.rows.items() if n]
        if self.artifacts:
            size = sum(_size(p) for p in self.artifacts)
            shown.append(f"{len(self.artifacts):,} model artifact files ({size / 1e6:.1f} MB)")
        return shown


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _same_file_key(path: Path) -> Path:
    """A path compared as the file it names (a relative artifact_path is relative to the
    working directory of the process that wrote it, as it was when read back)."""
    return path.absolute().resolve()


def _artifact_files(
    session: Session, account_id: int, artifact_dir: Path | None
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(files to delete, files kept because another account's fits name them too)."""
    own = session.scalars(
        select(ModelMetadata.artifact_path).where(
            ModelMetadata.account_id == account_id, ModelMetadata.artifact_path.is_not(None)
        )
    ).all()
    candidates = {_same_file_key(Path(p)) for p in own if p and Path(p).is_file()}
    if artifact_dir is not None:
        folder = artifact_dir / str(account_id)
        if folder.is_dir():
            candidates |= {_same_file_key(p) for p in folder.rglob("*.pkl") if p.is_file()}
    if not candidates:
        return (), ()
    others = session.scalars(
        select(ModelMetadata.artifact_path).where(
            ModelMetadata.account_id != account_id, ModelMetadata.artifact_path.is_not(None)
        )
    ).all()
    theirs = {_same_file_key(Path(p)) for p in others if p}
    return tuple(sorted(candidates - theirs)), tuple(sorted(candidates & theirs))


def plan_removal(session: Session, username: str, artifact_dir: Path | None = None) -> Removal:
    """What `remove_account` would delete now; reads only. Unknown handle: AccountError."""
    account = get_account(session, username)
    rows = {
        table.name: session.scalar(
            select(func.count()).select_from(table).where(table.c[column] == account.id)
        ) or 0
        for table, column in account_tables()
    }
    artifacts, shared = _artifact_files(session, account.id, artifact_dir)
    return Removal(account.id, account.username, rows, artifacts, shared)


def remove_account(
    session: Session,
    username: str,
    artifact_dir: Path | None = None,
    expected_id: int | None = None,
) -> Removal:
    """Delete the account and, through ON DELETE CASCADE, every row referring to it, in the
    caller's transaction (a failure rolls all of it back). Returns what went; the artifact
    files are for `delete_artifacts` to remove after the commit, so a failed removal never
    touches them. `expected_id` is the id a preview showed: a handle removed and added again
    since then names another account, which is refused rather than removed unseen."""
    plan = plan_removal(session, username, artifact_dir)
    if expected_id is not None and plan.account_id != expected_id:
        raise AccountError(
            f"account {plan.username!r} was removed and added again (now account id "
            f"{plan.account_id}, was {expected_id}) while you confirmed; nothing was removed"
        )
    gone = cast(
        CursorResult[Any], session.execute(delete(Account).where(Account.id == plan.account_id))
    )
    if gone.rowcount != 1:  # pragma: no cover - deleted by someone else since the lookup
        raise AccountError(f"account {plan.username!r} is no longer tracked")
    _rewind_post_checkpoint(session)
    return plan


def _rewind_post_checkpoint(session: Session) -> None:
    """Keep the signals post checkpoint at or below the newest remaining post. SQLite gives
    a new row the largest id plus one, so once the newest posts are deleted it hands their
    ids out again: new posts would sit below the checkpoint, never read by the signals
    pipeline. Every row above the rewound checkpoint was just deleted, so nothing is read
    twice (and dedup by source id would drop a repeat anyway)."""
    position = session.scalar(
        select(SignalCheckpoint.position).where(SignalCheckpoint.source == POST_CHECKPOINT)
    )
    if position is None or not position.isdigit():
        return
    newest = session.scalar(select(func.max(RawTweet.id))) or 0
    if int(position) > newest:
        session.execute(
            update(SignalCheckpoint)
            .where(SignalCheckpoint.source == POST_CHECKPOINT)
            .values(position=str(newest))
        )


@dataclass
class ArtifactCleanup:
    """What happened to a removed account's artifact files."""

    deleted: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    left_in_folder: list[Path] = field(default_factory=list)
    """Files other than model artifacts in `ARTIFACT_DIR/<account id>`: not MuskTracker's to
    delete, so the folder stays with them."""


def delete_artifacts(removal: Removal, artifact_dir: Path | None = None) -> ArtifactCleanup:
    """Delete the removed account's artifact files, then its folder if that left it empty.
    Called after the commit: files cannot join a transaction, and deleting first would lose
    a still-tracked account's models if the commit failed. Errors are collected, not raised:
    the account is already gone."""
    result = ArtifactCleanup()
    for path in removal.artifacts:
        try:
            path.unlink(missing_ok=True)
            result.deleted.append(path)
        except OSError as exc:
            result.failed.append((path, exc.strerror or str(exc)))
    if artifact_dir is not None:
        folder = artifact_dir / str(removal.account_id)
        if folder.is_dir():
            for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
                _remove_if_empty(sub)
            _remove_if_empty(folder)
            if folder.is_dir():
                failed = {p for p, _ in result.failed}
                result.left_in_folder = sorted(
                    p for p in folder.rglob("*") if p.is_file() and _same_file_key(p) not in failed
                )
    return result


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: left, and reported by the caller
        folder.rmdir()
