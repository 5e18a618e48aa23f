"""`musktracker forecast`: hourly forecasts, or the distribution of a window's total and its
bracket probabilities, as of now or any past moment."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from musktracker.accounts import get_account
from musktracker.cli.runtime import console, database, fail, handle_errors, settings
from musktracker.db.session import session_scope
from musktracker.forecasting.brackets import Bracket, BracketSpec, WindowForecast
from musktracker.forecasting.generate import (
    QUANTILE_LEVELS,
    default_as_of,
    parse_as_of,
    parse_horizon,
    parse_window,
    prepare_model,
    resolve_model,
    store_hourly,
    window_forecast,
)
from musktracker.models.base import PredictiveDistribution
from musktracker.utc import HOUR, floor_hour

DEFAULT_ACCOUNT = "elonmusk"
HOURS_PRINTED = 48  # longer horizons are printed as daily totals


def _key(level: float) -> str:
    return f"{level:g}"


def horizon_json(account: str, model: str, forecast: PredictiveDistribution) -> dict[str, Any]:
    quantiles = forecast.quantiles(QUANTILE_LEVELS)
    lower, upper = forecast.interval(0.95)
    return {
        "account": account,
        "model": model,
        "as_of": forecast.start.isoformat(),
        "hours": [
            {
                "target_time": target.isoformat(),
                "mean": float(forecast.mean[i]),
                "lower_95": float(lower[i]),
                "upper_95": float(upper[i]),
                "quantiles": {
                    _key(level): float(quantiles[j, i]) for j, level in enumerate(QUANTILE_LEVELS)
                },
            }
            for i, target in enumerate(forecast.target_times)
        ],
    }


def window_json(window: WindowForecast, brackets: list[Bracket]) -> dict[str, Any]:
    return {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "observed": window.observed,
        "mean": window.mean,
        "quantiles": {_key(level): value for level, value in window.quantiles().items()},
        "brackets": [
            {"low": b.low, "high": b.high, "probability": b.probability} for b in brackets
        ],
    }


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


def print_window(account: str, model: str, window: WindowForecast, brackets: list[Bracket]) -> None:
    q = window.quantiles()
    console.print(
        f"@{account} posts in [{window.start:%Y-%m-%d %H:%M}Z, {window.end:%Y-%m-%d %H:%M}Z) "
        f"({model}): observed so far {window.observed}, mean {window.mean:.1f}, "
        f"median {q[0.5]}, 90% interval {q[0.05]}-{q[0.95]}"
    )
    if brackets:
        table = Table(title="bracket probabilities")
        table.add_column("posts", justify="right")
        table.add_column("probability", justify="right")
        for b in brackets:
            table.add_row(b.label(), f"{b.probability:.3f}")
        console.print(table)


@handle_errors
def forecast(
    account: str = typer.Option(DEFAULT_ACCOUNT, "--account", "-a", help="Tracked account."),
    model: str = typer.Option("best", "--model", "-m", help="Model name, `best` or `ensemble`."),
    horizon: str = typer.Option("24h", "--horizon", help="Hours to forecast: 24h, 7d, 36, ..."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Forecast as if it were this ISO time (default: end of the data)."
    ),
    window: str | None = typer.Option(
        None, "--window", help="START/END: distribution of the posts in [START, END)."
    ),
    brackets: str | None = typer.Option(
        None, "--brackets", help="Bracket width (20) or lower edges (0,140,160,...)."
    ),
    train_days: float = typer.Option(30.0, "--train-days", help="Days of history to fit on."),
    samples: int = typer.Option(2000, "--samples", min=10, help="Sample paths."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same numbers)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG fan chart / bracket bars."),
) -> None:
    """Forecast hourly post counts (mean, 95% interval and 23 quantiles per hour), or with
    --window the number of posts in a window, counting posts already observed and
    forecasting only the rest, with --brackets probabilities. Rows are stored in `forecasts`.

    Example: musktracker forecast --horizon 7d --brackets 0,400,450,500 --as-of 2026-02-20T17:00Z
    """
    hours = parse_horizon(horizon)
    spec = BracketSpec.parse(brackets) if brackets is not None else None
    span = parse_window(window) if window is not None else None
    moment: datetime | None = parse_as_of(as_of) if as_of is not None else None
    if not train_days > 0:
        raise fail(f"--train-days {train_days}: must be positive")
    if plot is not None and plot.suffix.lower() != ".png":
        raise fail(f"--plot {str(plot)!r}: plots are PNG files (name it *.png)")
    with session_scope(database()) as session:
        account_row = get_account(session, account)
        name = account_row.username
        if moment is None:
            moment = default_as_of(session, account_row.id)
        chosen, note = resolve_model(session, account_row.id, model, floor_hour(moment))
        if note and not as_json:
            console.print(f"[yellow]{note}[/]")
        needs_model = span is None or span[1] > moment
        prepared = (
            prepare_model(session, account_row.id, chosen, moment, train_days,
                          settings().artifact_dir)
            if needs_model else None
        )
        if prepared is not None and not as_json:
            for line in prepared.notes:
                console.print(f"[yellow]{line}[/]")
        if span is None and spec is None:
            assert prepared is not None
            hourly = prepared.predict(hours, samples, seed)
            store_hourly(session, account_row.id, prepared, hourly)
            _report_hours(name, chosen, hourly, prepared.history.counts, as_json, plot)
            return
        start, end = span if span is not None else (floor_hour(moment),
                                                    floor_hour(moment) + hours * HOUR)
        result, hourly_or_none = window_forecast(
            session, account_row.id, start, end, moment, prepared, samples, seed
        )
        if prepared is not None and hourly_or_none is not None:
            store_hourly(session, account_row.id, prepared, hourly_or_none)
    table = result.brackets(spec if spec is not None else BracketSpec(width=20))
    if as_json:
        typer.echo(json.dumps(window_json(result, table)))
    else:
        print_window(name, chosen, result, table)
    if plot is not None:
        from musktracker.forecasting.plots import bracket_bars

        bracket_bars(table, plot, f"@{name}: posts in [{start:%Y-%m-%d %H:%M}Z, "
                     f"{end:%Y-%m-%d %H:%M}Z), {chosen}, observed {result.observed}")


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

        fan_chart(history.iloc[-72:], hourly, plot, f"@{account}: {model} forecast")


app = typer.Typer()
app.command(name="forecast")(forecast)

if __name__ == "__main__":
    app()
