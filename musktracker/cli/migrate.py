"""`musktracker migrate`: apply, revert and inspect schema migrations."""

from __future__ import annotations

import typer

from musktracker.cli.runtime import console, handle_errors, settings
from musktracker.db import migrate as migrations

app = typer.Typer(
    help="Apply, revert and inspect database schema migrations (Alembic).\n\n"
    "Example: musktracker migrate up",
    no_args_is_help=True,
)


@app.command()
@handle_errors
def up(
    revision: str = typer.Option("head", help="Target revision; 'head' is the newest."),
) -> None:
    """Apply migrations up to a revision (default: all).

    Example: musktracker migrate up
    """
    url = settings().database_url
    migrations.upgrade(url, revision)
    console.print(f"database at revision {migrations.current_revision(url)}")


@app.command()
@handle_errors
def down(
    revision: str = typer.Option("-1", help="'-1' reverts one step, 'base' reverts everything."),
) -> None:
    """Revert migrations.

    Example: musktracker migrate down --revision -1
    """
    url = settings().database_url
    migrations.downgrade(url, revision)
    console.print(f"database at revision {migrations.current_revision(url) or 'base (empty)'}")


@app.command()
@handle_errors
def current() -> None:
    """Show the database's revision and the newest one available.

    Example: musktracker migrate current
    """
    url = settings().database_url
    now, head = migrations.current_revision(url), migrations.head_revision(url)
    state = "up to date" if now == head else "run `musktracker migrate up`"
    console.print(f"current: {now or 'base (empty)'}  head: {head}  ({state})")


if __name__ == "__main__":
    app()
