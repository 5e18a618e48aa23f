"""Removing a tracked account: every row that refers to it (through ON DELETE CASCADE, in one
transaction) and then its model artifact files, with a preview of what will go."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, func, select
from sqlalchemy.orm import Session

from musktracker.accounts import AccountError, get_account
from musktracker.db.models import Account, Base, ModelMetadata

ROW_KINDS: dict[str, tuple[str, str]] = {
    "raw_tweets": ("post", "posts"),
    "time_buckets": ("time bucket", "time buckets"),
    "features": ("feature row", "feature rows"),
    "exogenous_events": (
        "exogenous event of this account only", "exogenous events of this account only"
    ),
    "model_metadata": ("model fit", "model fits"),
    "forecasts": ("forecast hour", "forecast hours"),
    "backtest_results": ("backtest window", "backtest windows"),
    "regime_shifts": ("regime shift", "regime shifts"),
    "sentiment_predictions": ("sentiment prediction", "sentiment predictions"),
    "ingest_state": ("ingestion checkpoint", "ingestion checkpoints"),
}
"""How the preview names one and several of each table's rows; a table not listed here (a
future one) is shown by its table name, so nothing referring to an account is ever left out
of the count."""


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
    elsewhere: tuple[Path, ...] = ()
    """Relative paths its model fits name that are no file from this working directory: the
    process that trained ran in another (ARTIFACT_DIR is relative by default), so they are
    left there, for the operator to delete."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def artifact_bytes(self) -> int:
        return sum(_size(p) for p in self.artifacts)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _same_file_key(path: Path) -> Path:
    """A path compared as the file it names (a relative artifact_path is relative to the
    working directory of the process that wrote it, as it was when read back)."""
    return path.absolute().resolve()


def _elsewhere(session: Session, account_id: int) -> tuple[Path, ...]:
    """The relative artifact paths the account's fits name that are not found from here."""
    own = session.scalars(
        select(ModelMetadata.artifact_path).where(
            ModelMetadata.account_id == account_id, ModelMetadata.artifact_path.is_not(None)
        )
    ).all()
    return tuple(sorted({Path(p) for p in own
                         if p and not Path(p).is_absolute() and not Path(p).is_file()}))


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
    return Removal(account.id, account.username, rows, artifacts, shared,
                   _elsewhere(session, account.id))


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
    if gone.rowcount != 1:  # deleted by another removal since the lookup (concurrent DELETEs)
        raise AccountError(f"account {plan.username!r} is no longer tracked")
    return plan


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
