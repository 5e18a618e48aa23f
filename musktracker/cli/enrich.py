"""`musktracker enrich`: curate exogenous events that may move posting volume."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from musktracker.accounts import list_accounts
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, handle_errors
from musktracker.db.session import session_scope
from musktracker.enrich.events import NewEvent, add_event, delete_event, list_events
from musktracker.utc import parse_utc

app = typer.Typer(
    help="Add, list and delete exogenous events (launches, earnings, news).\n\n"
    'Example: musktracker enrich add-event --name "Tesla Q4 Earnings" '
    "--start 2025-01-29T21:00:00Z --end 2025-01-29T23:00:00Z --intensity 0.8",
    no_args_is_help=True,
)


@app.command("add-event")
@handle_errors
def add(
    name: str = typer.Option(..., "--name", help="Short name of the event."),
    start: str = typer.Option(
        ..., "--start", help="ISO 8601 time with zone, e.g. 2025-01-15T00:00:00Z."
    ),
    end: str = typer.Option(..., "--end", help="ISO 8601 time with zone, after --start."),
    intensity: float = typer.Option(..., "--intensity", help="How strong, from 0.0 to 1.0."),
    category: str | None = typer.Option(
        None, "--category", help="e.g. market, regulatory, product."
    ),
    description: str | None = typer.Option(None, "--description", help="Free text."),
    source: str = typer.Option("manual", "--source", help="Where the event came from."),
    account: str | None = typer.Option(
        None, "--account", help="Only for this account (default: applies to every account)."
    ),
) -> None:
    """Add an event; features overlapping it are refreshed.

    Example: musktracker enrich add-event --name "Tesla Q4 Earnings"
    --start 2025-01-29T21:00:00Z --end 2025-01-29T23:00:00Z --intensity 0.8 --category market
    """
    new = NewEvent(
        name=name,
        start=parse_utc(start, "--start"),
        end=parse_utc(end, "--end"),
        intensity=intensity,
        category=category,
        description=description,
        source=source,
        account=account,
    )
    with session_scope(database()) as session:
        event = add_event(session, new)
        console.print(f"added event {event.id}: {escape(event.name)}")


@app.command("list")
@handle_errors
def list_() -> None:
    """List events, oldest first.

    Example: musktracker enrich list
    """
    with session_scope(database()) as session:
        usernames = {a.id: "@" + a.username for a in list_accounts(session)}
        table = Table(
            "id", "name", "start (UTC)", "end (UTC)", "intensity", "category", "source", "account"
        )
        for e in list_events(session):
            # Text, not str: Rich would read "[...]" in free text as markup, dropping it or
            # failing on "[/]".
            table.add_row(
                str(e.id),
                Text(e.name),
                f"{e.event_start:%Y-%m-%d %H:%M}",
                f"{e.event_end:%Y-%m-%d %H:%M}",
                f"{e.intensity:.2f}",
                Text(e.category or "-"),
                Text(e.source),
                "all" if e.account_id is None else usernames[e.account_id],
            )
        console.print(table)


@app.command("delete")
@handle_errors
def delete(event_id: int = typer.Argument(..., help="Id shown by `enrich list`.")) -> None:
    """Delete an event; features it affected are refreshed.

    Example: musktracker enrich delete 3
    """
    with session_scope(database()) as session:
        event = delete_event(session, event_id)
        console.print(f"deleted event {event_id}: {escape(event.name)}")


if __name__ == "__main__":
    run_module(app)
