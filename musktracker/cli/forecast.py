"""`musktracker forecast`: hourly forecasts, or the distribution of a window's total and its
bracket probabilities, as of now or any past moment."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from musktracker.accounts import resolve_account
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import ONE_ACCOUNT, console, database, fail, handle_errors, settings
from musktracker.db.session import session_scope
from musktracker.forecasting.brackets import (
    PROBABILITY_DECIMALS,
    Bracket,
    BracketSpec,
    WindowForecast,
)
from musktracker.forecasting.generate import parse_as_of, parse_horizon, parse_window
from musktracker.forecasting.output import check_png, write_error
from musktracker.forecasting.service import (
    ForecastOptions,
    horizon_json,
    hourly_forecast,
    window_json,
    window_total,
)
from musktracker.models.base import PredictiveDistribution

DEFAULT_HORIZON = "24h"
HOURS_PRINTED = 48  # longer horizons are printed as daily totals
DEFAULT_BRACKETS = BracketSpec(width=20)


def print_hours(account: str, model: str, forecast: PredictiveDistribution) -> None:
    lower, upper = forecast.interval(0.95)
    table = Table(title=f"@{account}: {model} forecast from {forecast.start:%Y-%m-%d %H:%M}Z")
    if forecast.horizon <= HOURS_PRINTED:
        for column in ("hour (UTC)", "mean", "median", "95% interval"):
            table.add_column(column, justify="right")
        median = forecast.quantiles([0.5])[0]
        for i, target in enumerate(forecast.target_times):
            table.add_row(f"{target:%Y-%m-%d %H:%M}", f"{forecast.mean[i]:.2f}",
                          f"{median[i]:.0f}", f"{lower[i]:.0f}-{upper[i]:.0f}")
    else:
        for column in ("day from", "hours", "mean total", "95% interval"):
            table.add_column(column, justify="right")
        for begin in range(0, forecast.horizon, 24):
            stop = min(begin + 24, forecast.horizon)
            totals = forecast.total(begin, stop)
            lo, hi = np.quantile(totals, [0.025, 0.975], method="inverted_cdf")
            table.add_row(f"{forecast.target_times[begin]:%Y-%m-%d %H:%M}", str(stop - begin),
                          f"{totals.mean():.1f}", f"{lo:.0f}-{hi:.0f}")
    totals = forecast.total()
    lo, hi = np.quantile(totals, [0.025, 0.975], method="inverted_cdf")
    console.print(table)
    console.print(f"total over {forecast.horizon} h: mean {totals.mean():.1f}, "
                  f"95% interval {lo:.0f}-{hi:.0f}")


def print_window(
    account: str, model: str | None, window: WindowForecast, brackets: list[Bracket]
) -> None:
    q = window.quantiles()
    console.print(
        f"@{account} posts in [{window.start:%Y-%m-%d %H:%M}Z, {window.end:%Y-%m-%d %H:%M}Z) "
        f"({model or 'over: all observed'}): observed so far {window.observed}, "
        f"mean {window.mean:.1f}, "
        f"median {q[0.5]}, 90% interval {q[0.05]}-{q[0.95]}"
    )
    if brackets:
        table = Table(title="bracket probabilities")
        table.add_column("posts", justify="right")
        table.add_column("probability", justify="right")
        for b in brackets:
            table.add_row(b.label(), f"{b.probability:.{PROBABILITY_DECIMALS}f}")
        console.print(table)


@handle_errors
def forecast(
    account: str | None = ONE_ACCOUNT,
    model: str = typer.Option("best", "--model", "-m", help="Model name, `best` or `ensemble`."),
    horizon: str | None = typer.Option(
        None, "--horizon",
        help="Hours to forecast: 24h, 7d, 36, ... (default 24h; with --brackets and no "
        "--window, the window is these hours; --window sets its own).",
    ),
    as_of: str | None = typer.Option(
        None, "--as-of",
        help="Forecast as if it were this time, ISO 8601 with a zone (default: end of the "
        "data); posts before it count as observed.",
    ),
    window: str | None = typer.Option(
        None, "--window",
        help="START/END, ISO 8601 with a zone: distribution of the posts in [START, END), "
        "e.g. 2026-12-04T12:00-05:00/2026-12-11T12:00-05:00 (noon ET; -04:00 in summer).",
    ),
    brackets: str | None = typer.Option(
        None, "--brackets",
        help="Lower edges 0,140,160,... (brackets 0-139, 140-159, ..., the last open) or a "
        "width such as 20 (multiples of 20 around the likely counts, the lowest from 0, the "
        "top open). Default with --window: 20.",
    ),
    train_days: float = typer.Option(30.0, "--train-days", help="Days of history to fit on."),
    samples: int = typer.Option(2000, "--samples", min=10, help="Sample paths."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same numbers)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Path | None = typer.Option(
        None, "--plot",
        help="Write a PNG: the fan chart, or the bracket bars with --window or --brackets.",
    ),
) -> None:
    """Forecast hourly post counts (mean, 95% interval and 23 quantiles per hour), or with
    --window the number of posts in a window, counting posts already observed and
    forecasting only the rest, with --brackets probabilities. Rows are stored in `forecasts`.

    Bracket probabilities have four decimals and add up to exactly 1.

    Example: musktracker forecast --window 2026-02-20T12:00-05:00/2026-02-27T12:00-05:00
    --as-of 2026-02-24T09:00Z --brackets 0,400,450,500
    """
    if horizon is not None and window is not None:
        raise fail(f"--horizon {horizon!r} and --window: the window sets the hours; give one")
    hours = parse_horizon(horizon or DEFAULT_HORIZON)
    spec = BracketSpec.parse(brackets) if brackets is not None else None
    span = parse_window(window) if window is not None else None
    moment: datetime | None = parse_as_of(as_of) if as_of is not None else None
    if not train_days > 0:
        raise fail(f"--train-days {train_days}: must be positive")
    if plot is not None:
        check_png(plot, "--plot")
    options = ForecastOptions(model, moment, train_days, samples, seed)
    with session_scope(database()) as session:
        account_row = resolve_account(session, account)
        name = account_row.username
        if span is None and spec is None:
            run = hourly_forecast(session, account_row.id, hours, options, settings().artifact_dir)
            _print_notes(run.notes, as_json)
            _report_hours(name, run.model, run.hourly, run.prepared.history.counts, as_json, plot)
            return
        total = window_total(session, account_row.id, span, hours, options,
                             settings().artifact_dir)
        # in the transaction: a width giving too many brackets leaves nothing stored
        table = total.window.brackets(spec if spec is not None else DEFAULT_BRACKETS)
    _print_notes(total.notes, as_json)
    chosen, result = total.model, total.window
    start, end = result.start, result.end
    if as_json:
        typer.echo(json.dumps(window_json(name, total, table)))
    else:
        print_window(name, chosen, result, table)
    if plot is not None:
        from musktracker.forecasting.plots import bracket_bars

        try:
            bracket_bars(table, plot, f"@{name}: posts in [{start:%Y-%m-%d %H:%M}Z, "
                         f"{end:%Y-%m-%d %H:%M}Z), {chosen or 'over'}, observed {result.observed} "
                         f"as of {total.as_of:%Y-%m-%d %H:%M}Z")
        except OSError as exc:
            raise write_error(plot, "--plot", exc) from None


def _print_notes(notes: list[str], as_json: bool) -> None:
    if not as_json:
        for line in notes:
            console.print(f"[yellow]{escape(line)}[/]")


def _report_hours(
    account: str, model: str, hourly: PredictiveDistribution, history: Any, as_json: bool,
    plot: Path | None,
) -> None:
    if as_json:
        typer.echo(json.dumps(horizon_json(account, model, hourly)))
    else:
        print_hours(account, model, hourly)
    if plot is not None:
        from musktracker.forecasting.plots import fan_chart

        try:
            fan_chart(history.iloc[-72:], hourly, plot, f"@{account}: {model} forecast")
        except OSError as exc:
            raise write_error(plot, "--plot", exc) from None


app = typer.Typer()
app.command(name="forecast")(forecast)

if __name__ == "__main__":
    run_module(app)
