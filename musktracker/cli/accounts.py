"""`musktracker accounts`: the X accounts MuskTracker tracks."""

from __future__ import annotations

import typer
from rich.table import Table

from musktracker import accounts as account_store
from musktracker.cli.runtime import console, database, handle_errors
from musktracker.db.session import session_scope

app = typer.Typer(
    help="Add and list tracked X accounts, and correct their X user ids.\n\n"
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


if __name__ == "__main__":
    app()
