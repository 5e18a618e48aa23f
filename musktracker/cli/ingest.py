"""`musktracker ingest`: not implemented yet (issue #4)."""

from __future__ import annotations

import typer

from musktracker.cli.runtime import not_implemented


def ingest(
    account: str | None = typer.Option(None, "--account", "-a", help="Tracked account."),
) -> None:
    """Fetch posts from the X API v2 (backfill, incremental, stream).

    Not implemented yet: exits with code 2.

    Example: musktracker ingest --account elonmusk --backfill-days 7
    """
    raise not_implemented("ingest", 4)


app = typer.Typer()
app.command(
    name="ingest", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(ingest)

if __name__ == "__main__":
    app()
