"""`musktracker quickstart`: the README's main job on the embedded default database."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import select

from musktracker.cli.archive import import_command
from musktracker.cli.forecast import forecast
from musktracker.cli.runtime import console, handle_errors, settings
from musktracker.cli.status import status
from musktracker.cli.train import train
from musktracker.db import migrate
from musktracker.db.models import Account
from musktracker.db.session import get_engine, session_scope

DEFAULT_DATA = Path("../shared/data/elonmusk/posts.csv")


@handle_errors
def quickstart(
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="Posts CSV of @elonmusk to import."),
    account: str = typer.Option("elonmusk", "--account", help="Account the posts belong to."),
    reports: Path = typer.Option(Path("reports"), "--reports", help="Directory for the plots."),
) -> None:
    """Create the schema, track the account, import its real posting history, compute
    buckets and features, print the status, then backtest every volume model (12 windows)
    and print a 24-hour forecast, a 7-day forecast and the bracket probabilities for the next
    7 days, writing the plots to --reports. Safe to run again.

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
    train(
        account=account, model="all", backtest_windows=12, train_days=30.0, horizon="24h",
        step="1d", as_of=None, samples=1000, workers=2, as_json=False,
        report=reports / "backtest.png",
    )
    for horizon, brackets, plot in (
        ("24h", None, "forecast_24h.png"),
        ("7d", None, "forecast_7d.png"),
        ("7d", "50", "brackets_7d.png"),
    ):
        forecast(
            account=account, model="best", horizon=horizon, as_of=None, window=None,
            brackets=brackets, train_days=30.0, samples=2000, seed=0, as_json=False,
            plot=reports / plot,
        )
    console.print(f"plots written to {reports}/")


app = typer.Typer()
app.command(name="quickstart")(quickstart)

if __name__ == "__main__":
    app()
