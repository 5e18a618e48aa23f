"""The `musktracker` command: every command group under one entry point."""

from __future__ import annotations

import typer

from musktracker.cli import (
    accounts,
    apikeys,
    archive,
    buckets,
    enrich,
    evaluate_forecasts,
    forecast,
    ingest,
    migrate,
    quickstart,
    regimes,
    sentiment,
    serve,
    signals,
    status,
    train,
    worker,
    x_emulator,
)
from musktracker.cli.helptext import whole_line_help

app = typer.Typer(
    help="MuskTracker: calibrated post-volume forecasts, sentiment and signals for X accounts.\n\n"
    "Start with `musktracker quickstart`, then `musktracker status`. "
    "Every command explains itself with --help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(migrate.app, name="migrate")
app.add_typer(accounts.app, name="accounts")
app.add_typer(enrich.app, name="enrich")
app.add_typer(buckets.app, name="buckets")
app.add_typer(signals.app, name="signals")
app.add_typer(sentiment.app, name="sentiment")
app.add_typer(apikeys.app, name="apikeys")
for module in (
    quickstart,
    archive,
    status,
    ingest,
    train,
    forecast,
    regimes,
    evaluate_forecasts,
    x_emulator,
    serve,
    worker,
):
    for info in module.app.registered_commands:
        app.registered_commands.append(info)


whole_line_help(app)


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    run()
