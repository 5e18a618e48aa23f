"""`musktracker quickstart`: the README's main job on the embedded default database."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import select

from musktracker.cli.archive import import_command
from musktracker.cli.runtime import console, handle_errors, settings
from musktracker.cli.status import status
from musktracker.db import migrate
from musktracker.db.models import Account
from musktracker.db.session import get_engine, session_scope

DEFAULT_DATA = Path("../shared/data/elonmusk/posts.csv")


@handle_errors
def quickstart(
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="Posts CSV of @elonmusk to import."),
    account: str = typer.Option("elonmusk", "--account", help="Account the posts belong to."),
) -> None:
    """Create the schema, track the account, import its real posting history, compute
    buckets and features, and print the status. Safe to run again.

    Example: musktracker quickstart --data ../shared/data/elonmusk/posts.csv
    """
    url = settings().database_url
    migrate.upgrade(url)
    with session_scope(get_engine(url)) as session:
        if session.scalar(select(Account).where(Account.username == account.lower())) is None:
            session.add(Account(username=account.lower()))
    console.print(f"database {url} ready; importing {data}")
    import_command(path=data, account=account, fmt=None, skip_bad=False)
    status()


app = typer.Typer()
app.command(name="quickstart")(quickstart)

if __name__ == "__main__":
    app()
