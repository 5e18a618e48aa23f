"""`musktracker quickstart`: the README's main job on the embedded default database."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.markup import escape

from musktracker import accounts as account_store
from musktracker.cli.archive import import_command
from musktracker.cli.forecast import forecast
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, fail, handle_errors, settings
from musktracker.cli.status import status
from musktracker.cli.train import train
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope

DEFAULT_DATA = Path("../shared/data/elonmusk/posts.csv")


def _check_inputs(data: Path, account: str, reports: Path) -> str:
    """Refuse bad options before anything is written: otherwise a typo in --data left a
    migrated database with a tracked account behind, an invalid --account was stored as a
    handle nothing could use, and an unwritable --reports failed only after the import.
    Returns the normalized handle."""
    try:
        handle = account_store.normalize_username(account)
    except account_store.AccountError as exc:
        raise fail(f"--account: {exc}") from None
    if data.is_dir():
        raise fail(f"--data '{data}' is a directory, not a posts file")
    try:
        data.open("rb").close()
    except OSError as exc:
        raise fail(f"--data '{data}': {exc.strerror or exc}") from None
    if reports.exists() and not reports.is_dir():
        raise fail(f"--reports '{reports}' is a file, not a directory")
    try:
        reports.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=reports).close()
    except OSError as exc:
        raise fail(f"--reports '{reports}': {exc.strerror or exc}") from None
    return handle


@handle_errors
def quickstart(
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="Posts CSV of @elonmusk to import."),
    account: str = typer.Option("elonmusk", "--account", help="Account the posts belong to."),
    reports: Path = typer.Option(Path("reports"), "--reports", help="Directory for the plots."),
) -> None:
    """Set up everything and show a first forecast from real data; safe to run again.

    Creates the schema, tracks the account, imports its posting history, computes buckets
    and features, prints the status, then backtests every volume model (12 windows) and
    prints a 24-hour forecast, a 7-day forecast and the bracket probabilities for the next
    7 days, writing the plots to --reports.

    Example: musktracker quickstart --data ../shared/data/elonmusk/posts.csv
    """
    handle = _check_inputs(data, account, reports)
    url = settings().database_url
    migrate.upgrade(url)
    with session_scope(get_engine(url)) as session:
        if handle not in {a.username for a in account_store.list_accounts(session)}:
            account_store.add_account(session, handle)
    console.print(f"database {escape(url)} ready; importing {escape(str(data))}")
    import_command(path=data, account=handle, fmt=None, skip_bad=False)
    status()
    train(
        account=handle, model="all", backtest_windows=12, train_days=30.0, horizon="24h",
        step="1d", as_of=None, samples=1000, workers=2, as_json=False,
        report=reports / "backtest.png",
    )
    for horizon, brackets, plot in (
        ("24h", None, "forecast_24h.png"),
        ("7d", None, "forecast_7d.png"),
        ("7d", "50", "brackets_7d.png"),
    ):
        forecast(
            account=handle, model="best", horizon=horizon, as_of=None, window=None,
            brackets=brackets, train_days=30.0, samples=2000, seed=0, as_json=False,
            plot=reports / plot,
        )
    console.print(f"plots written to {escape(str(reports))}/")


app = typer.Typer()
app.command(name="quickstart")(quickstart)

if __name__ == "__main__":
    run_module(app)
