"""`musktracker accounts`: the X accounts MuskTracker tracks."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from musktracker import account_removal
from musktracker import accounts as account_store
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
from musktracker.db.session import session_scope

app = typer.Typer(
    help="Add, list and remove tracked X accounts, and correct their X user ids.\n\n"
    "Example: musktracker accounts add elonmusk --id 44196397",
    no_args_is_help=True,
)


@app.command("add")
@handle_errors
def add(
    username: str = typer.Argument(..., help="X handle, with or without '@'."),
    x_user_id: str | None = typer.Option(
        None, "--id", help="Numeric X user id, if known (ingestion looks it up otherwise)."
    ),
) -> None:
    """Track a new account.

    Example: musktracker accounts add elonmusk --id 44196397
    """
    with session_scope(database()) as session:
        account = account_store.add_account(session, username, x_user_id)
        console.print(f"tracking @{account.username} (account id {account.id})")


@app.command("set-id")
@handle_errors
def set_id(
    username: str = typer.Argument(..., help="Tracked X handle, with or without '@'."),
    x_user_id: str | None = typer.Argument(
        None, help="The correct numeric X user id; leave out with --clear."
    ),
    clear: bool = typer.Option(
        False, "--clear", help="Forget the id; the next ingestion looks it up by handle."
    ),
) -> None:
    """Correct a tracked account's X user id (a wrong --id given to `accounts add`).

    Posts already stored stay with the account.

    Examples: musktracker accounts set-id elonmusk 44196397;
    musktracker accounts set-id zed --clear
    """
    if (x_user_id is None) == (not clear):
        raise typer.BadParameter("give either an X user id or --clear", param_hint="X_USER_ID")
    with session_scope(database()) as session:
        account = account_store.set_user_id(session, username, None if clear else x_user_id)
        shown = account.x_user_id or "none (looked up at the next ingestion)"
        console.print(f"@{account.username}: X user id {shown}")


@app.command("list")
@handle_errors
def list_() -> None:
    """List tracked accounts.

    Example: musktracker accounts list
    """
    with session_scope(database()) as session:
        table = Table("username", "X user id", "added (UTC)")
        for account in account_store.list_accounts(session):
            table.add_row(
                "@" + account.username,
                account.x_user_id or "-",
                account.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)


def stdin_is_terminal() -> bool:
    """Whether someone can answer the question (a function, so tests can stand in for one)."""
    return sys.stdin.isatty()


@app.command("remove")
@handle_errors
def remove(
    username: str = typer.Argument(..., help="Tracked X handle, with or without '@'."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Remove without asking (needed when stdin is not a terminal)."
    ),
) -> None:
    """Stop tracking an account and delete everything stored about it.

    Shows what will go (posts, buckets, features, model fits, forecasts, backtests, regime
    shifts, sentiment predictions, its own exogenous events, model artifact files) and asks
    first. Signal events and notifications are kept. One transaction: if anything fails,
    nothing is removed.

    Examples: musktracker accounts remove zed; musktracker accounts remove zed --yes
    """
    engine = database()
    artifact_dir = settings().artifact_dir
    with session_scope(engine) as session:
        preview = account_removal.plan_removal(session, username, artifact_dir)
    name = preview.username
    console.print(f"@{name} (account id {preview.account_id}) and everything stored about it:")
    for line in _what_goes(preview) or ["no stored rows or artifact files"]:
        console.print(f"  {line}")
    for path in preview.shared:
        console.print(f"  kept: {escape(str(path))} (another account's model fits name it too)")
    if preview.elsewhere:  # said before the question: removing from there deletes them too
        console.print(f"  not found from this directory: {_artifact_files(preview.elsewhere)} "
                      "named by relative paths")
    if not yes:
        if not stdin_is_terminal():
            raise fail(f"not removing @{name}: no terminal to confirm on; add --yes to remove it")
        if not typer.confirm(f"Remove @{name} and all of the above?", default=False):
            raise fail(f"not removing @{name}: not confirmed; nothing was changed")
    with session_scope(engine) as session:
        removed = account_removal.remove_account(
            session, name, artifact_dir, expected_id=preview.account_id
        )
    summary = ", ".join(_what_goes(removed)) or "no stored rows"  # sizes read before deleting
    cleanup = account_removal.delete_artifacts(removed, artifact_dir)
    console.print(f"removed @{name}: {summary}")
    for path, reason in cleanup.failed:
        err_console.print(f"warning: could not delete {escape(str(path))}: {escape(reason)}")
    if removed.elsewhere:
        err_console.print(
            f"warning: {_artifact_files(removed.elsewhere)} its fits name, such as "
            f"{escape(str(removed.elsewhere[0]))}, {noun(len(removed.elsewhere), 'is', 'are')} "
            "relative to the directory the training "
            f"ran in, not found from {escape(str(Path.cwd()))}; delete them there by hand "
            "(or remove accounts from that directory)"
        )
    if cleanup.left_in_folder:
        folder = artifact_dir / str(removed.account_id)
        left = len(cleanup.left_in_folder)
        err_console.print(
            f"warning: {escape(str(folder))} still holds {left} {noun(left, 'file')} that "
            f"{noun(left, 'is not a model artifact', 'are not model artifacts')}; delete "
            f"{noun(left, 'it', 'them')} by hand if not needed"
        )


def _what_goes(removal: account_removal.Removal) -> list[str]:
    """The non-empty kinds of what a removal deletes, one per line."""
    shown = [f"{n:,} {noun(n, *account_removal.ROW_KINDS.get(t, (t, t)))}"
             for t, n in removal.rows.items() if n]
    if removal.artifacts:
        shown.append(f"{_artifact_files(removal.artifacts)} "
                     f"({removal.artifact_bytes / 1e6:.1f} MB)")
    return shown


def _artifact_files(paths: tuple[Path, ...]) -> str:
    return f"{len(paths):,} model artifact {noun(len(paths), 'file')}"


if __name__ == "__main__":
    run_module(app)
