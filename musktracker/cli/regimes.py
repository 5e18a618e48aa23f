"""`musktracker regimes`: lasting changes in an account's posting level."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from musktracker.accounts import get_account
from musktracker.cli.runtime import console, database, handle_errors
from musktracker.db.session import session_scope
from musktracker.evaluation.regime_store import store_shifts
from musktracker.evaluation.regimes import RegimeShift, detect_shifts
from musktracker.features.buckets import hourly_counts
from musktracker.features.count_rule import CountRule
from musktracker.forecasting.errors import ForecastError
from musktracker.forecasting.generate import parse_as_of
from musktracker.utc import HOUR, floor_hour


def _table(rule: str, shifts: list[RegimeShift]) -> Table:
    table = Table(title=f"{rule}: {len(shifts)} alerts")
    for column in ("change from", "detected", "direction", "posts/day before", "after"):
        table.add_column(column, justify="right")
    for s in shifts:
        table.add_row(f"{s.change_at:%Y-%m-%d}", f"{s.detected_at:%Y-%m-%d}", s.direction,
                      "-" if s.level_before is None else f"{s.level_before:.1f}",
                      f"{s.level_after:.1f}")
    return table


@handle_errors
def regimes(
    account: str = typer.Option("elonmusk", "--account", "-a", help="Tracked account."),
    kinds: str = typer.Option("all", "--kinds", help="Counting rule: all or original,quote,..."),
    as_of: str | None = typer.Option(None, "--as-of", help="Only use posts before this time."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Detect regime shifts in the posting level with two rules: the original rolling
    variance beyond 2 sigma, and a Negative Binomial CUSUM on daily counts relative to the
    seasonal expectation with a threshold set for one false alarm per year. One shift gives
    one alert. The alerts are stored in `regime_shifts`.

    Example: musktracker regimes --account elonmusk --json
    """
    rule = CountRule.parse(kinds)
    end = floor_hour(parse_as_of(as_of)) if as_of is not None else None
    with session_scope(database()) as session:
        account_row = get_account(session, account)
        counts = hourly_counts(session, account_row.id, rule, end=end)
        if counts.empty:
            raise ForecastError(f"account {account_row.username!r} has no hourly buckets"
                                + (f" before {end.isoformat()}" if end else ""))
        found = detect_shifts(counts)
        store_shifts(session, account_row.id, rule.name, found)
    if as_json:
        typer.echo(json.dumps({
            "account": account_row.username,
            "count_rule": rule.name,
            "data_end": (counts.index[-1] + HOUR).isoformat(),
            "rules": {r: [s.as_json() for s in shifts] for r, shifts in found.items()},
        }))
        return
    for r, shifts in found.items():
        console.print(_table(r, shifts))


app = typer.Typer()
app.command(name="regimes")(regimes)

if __name__ == "__main__":
    app()
