"""The `musktracker` command: every command group under one entry point."""

from __future__ import annotations

import inspect

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


def _first_paragraph(text: str) -> str:
    """A docstring's first paragraph on one line, as a listing of commands should show it."""
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


def _reflowed(text: str) -> str:
    """Each paragraph's wrapped lines joined into one, list items ("- ") kept on lines of
    their own: the terminal wraps them again at its own width."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.lstrip().startswith("- "):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _one_line_listings(typer_app: typer.Typer) -> None:
    """Give every command a one-line short help and a help of whole lines, in every group.

    Typer's rich help keeps the single line breaks of a docstring (wrapped at 100 columns
    in the source) and then wraps again at the terminal's width, so a listing and a
    command's --help showed ragged broken lines ("... Needs a / migrated / database.").
    """
    for info in typer_app.registered_commands:
        docstring = inspect.getdoc(info.callback) if info.callback else None
        if info.short_help is None and docstring:
            info.short_help = _first_paragraph(docstring)
        if info.help is None and docstring:
            info.help = _reflowed(docstring)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _one_line_listings(group.typer_instance)


_one_line_listings(app)


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    run()
