"""`musktracker forecast`: not implemented yet (issue #3)."""

from __future__ import annotations

import typer

from musktracker.cli.runtime import not_implemented


def forecast(
    account: str | None = typer.Option(None, "--account", "-a", help="Tracked account."),
) -> None:
    """Forecast post counts for the next hours or a window.

    Not implemented yet: exits with code 2.

    Example: musktracker forecast --horizon 24h
    """
    raise not_implemented("forecast", 3)


app = typer.Typer()
app.command(
    name="forecast", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(forecast)

if __name__ == "__main__":
    app()
