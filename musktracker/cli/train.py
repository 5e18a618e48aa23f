"""`musktracker train`: not implemented yet (issue #3)."""

from __future__ import annotations

import typer

from musktracker.cli.runtime import not_implemented


def train(
    account: str | None = typer.Option(None, "--account", "-a", help="Tracked account."),
) -> None:
    """Fit volume models with rolling backtests.

    Not implemented yet: exits with code 2.

    Example: musktracker train --model all --backtest-windows 12
    """
    raise not_implemented("train", 3)


app = typer.Typer()
app.command(
    name="train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(train)

if __name__ == "__main__":
    app()
