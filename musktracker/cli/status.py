"""`musktracker status`: where each account stands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, handle_errors, settings
from musktracker.db import migrate as migrations
from musktracker.db.session import normalize_url, require_tables, session_scope
from musktracker.status import AccountStatus, account_statuses


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


@handle_errors
def status() -> None:
    """Per account: posts, first and last post, buckets, features and the last ingest,
    after the database's schema revision.

    Example: musktracker status
    """
    url = settings().database_url
    engine = database(require=False)
    require_tables(engine)  # an older schema is reported below, not refused
    with session_scope(engine) as session:
        rows = account_statuses(session)
    # An older schema works here but not for every command; a newer one was written by a
    # newer MuskTracker. Both deserve a line before the numbers.
    state = migrations.schema_state(url)
    shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    console.print(f"database {shown} at revision {state.current} ({state.advice})")
    if not rows:
        console.print("no accounts tracked yet; add one with `musktracker accounts add USERNAME`")
        return
    # One column per account: reads well for any number of accounts in a narrow terminal.
    table = Table("", *("@" + s.username for s in rows), title="MuskTracker status")
    fields: dict[str, Callable[[AccountStatus], str]] = {
        "posts": lambda s: f"{s.posts:,}",
        "deleted (kept, not counted)": lambda s: f"{s.deleted_posts:,}",
        "first post (UTC)": lambda s: _when(s.first_post),
        "last post (UTC)": lambda s: _when(s.last_post),
        "hourly buckets": lambda s: f"{s.hourly_buckets:,} (sum {s.hourly_bucket_total:,})",
        "daily buckets": lambda s: f"{s.daily_buckets:,}",
        "feature rows": lambda s: f"{s.features:,}",
        "last ingest (UTC)": lambda s: _when(s.last_ingest),
    }
    for label, show in fields.items():
        table.add_row(label, *(show(s) for s in rows))
    console.print(table)


app = typer.Typer()
app.command(name="status")(status)

if __name__ == "__main__":
    run_module(app)
