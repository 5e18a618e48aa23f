"""`musktracker migrate`: apply, revert and inspect schema migrations."""

from __future__ import annotations

from collections.abc import Callable

import typer

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, fail, handle_errors, settings
from musktracker.db import migrate as migrations

app = typer.Typer(
    help="Apply, revert and inspect database schema migrations (Alembic).\n\n"
    "Example: musktracker migrate up",
    no_args_is_help=True,
)


def _move(step: Callable[[str, str], None], revision: str) -> None:
    """Run one migration step and print where the database ended up; an unknown revision
    (or a database from a newer version) is one error line, not Alembic's traceback."""
    url = settings().database_url
    try:
        step(url, revision)
    except migrations.MigrationError as exc:
        raise fail(str(exc)) from None
    console.print(f"database at revision {migrations.current_revision(url) or 'base (empty)'}")


@app.command()
@handle_errors
def up(
    revision: str = typer.Option(
        "head", help="Target revision ('head' is the newest; see `migrate history`)."
    ),
) -> None:
    """Apply migrations up to a revision (default: all).

    Example: musktracker migrate up
    """
    _move(migrations.upgrade, revision)


@app.command()
@handle_errors
def down(
    revision: str = typer.Option(
        "-1", help="'-1' reverts one step, 'base' reverts everything, or a revision to go back to."
    ),
) -> None:
    """Revert migrations.

    Example: musktracker migrate down --revision -1
    """
    _move(migrations.downgrade, revision)


@app.command()
@handle_errors
def current() -> None:
    """Show the database's revision and the newest one available.

    Example: musktracker migrate current
    """
    state = migrations.schema_state(settings().database_url)
    console.print(
        f"current: {state.current or 'base (empty)'}  head: {state.head}  ({state.advice})"
    )


@app.command()
@handle_errors
def history() -> None:
    """List the revisions this version ships, oldest first, marking the database's.

    Example: musktracker migrate history
    """
    url = settings().database_url
    state = migrations.schema_state(url)
    for revision in migrations.revisions():
        console.print(f"{revision}{'  <- database' if revision == state.current else ''}")
    if not state.known:
        console.print(f"{state.current}  <- database ({state.advice})")


if __name__ == "__main__":
    run_module(app)
