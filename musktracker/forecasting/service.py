"""Forecasts as the CLI, the API and the worker ask for them: pick the model, fit or load it,
forecast, store the hourly rows, and describe the result as JSON. One place, so
`musktracker forecast --json`, `GET /v1/accounts/{username}/forecast` and the hourly job
cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from musktracker.forecasting.brackets import Bracket, WindowForecast
from musktracker.forecasting.generate import (
    DEFAULT_TRAIN_DAYS,
    QUANTILE_LEVELS,
    PreparedModel,
    check_as_of,
    check_window_start,
    default_as_of,
    prepare_model,
    resolve_model,
    store_hourly,
    window_forecast,
    window_horizon,
)
from musktracker.models.base import PredictiveDistribution
from musktracker.utc import HOUR, floor_hour

FAN_HISTORY_HOURS = 72
"""Hours of observed counts drawn before the forecast in the fan chart."""


@dataclass(frozen=True)
class ForecastOptions:
    model: str = "best"
    as_of: datetime | None = None
    """Forecast as if it were this moment (default: the end of the account's data)."""
    train_days: float = DEFAULT_TRAIN_DAYS
    samples: int = 2000
    seed: int = 0


@dataclass
class HourlyRun:
    model: str
    prepared: PreparedModel
    hourly: PredictiveDistribution
    notes: list[str] = field(default_factory=list)


@dataclass
class WindowRun:
    model: str | None
    """The model that forecast the rest; None for a window that is over (all observed)."""
    as_of: datetime
    """The moment forecast from: posts before it are observed, the rest forecast."""
    window: WindowForecast
    notes: list[str] = field(default_factory=list)


def _resolve(
    session: Session, account_id: int, options: ForecastOptions
) -> tuple[datetime, str, list[str]]:
    if options.as_of is not None:
        check_as_of(session, account_id, options.as_of)
    moment = options.as_of or default_as_of(session, account_id)
    chosen, note = resolve_model(session, account_id, options.model, floor_hour(moment))
    return moment, chosen, [note] if note else []


def hourly_forecast(
    session: Session, account_id: int, hours: int, options: ForecastOptions, artifact_dir: Path
) -> HourlyRun:
    """Forecast the next `hours` hours and store one `forecasts` row per hour (an upsert, so
    repeating it for the same moment rewrites the same rows)."""
    moment, chosen, notes = _resolve(session, account_id, options)
    prepared = prepare_model(session, account_id, chosen, moment, options.train_days, artifact_dir)
    hourly = prepared.predict(hours, options.samples, options.seed)
    store_hourly(session, account_id, prepared, hourly)
    return HourlyRun(chosen, prepared, hourly, notes + prepared.notes)


def window_total(
    session: Session,
    account_id: int,
    span: tuple[datetime, datetime] | None,
    hours: int,
    options: ForecastOptions,
    artifact_dir: Path,
    start_option: str = "--window start",
) -> WindowRun:
    """Distribution of the posts in `span` (default: the next `hours` hours): observed posts
    are counted and only the rest is forecast (and stored). `start_option` names the start
    in the error of a window that begins before the data (the API's `--start`)."""
    moment, chosen, notes = _resolve(session, account_id, options)
    if span is not None:
        check_window_start(session, account_id, span[0], start_option)
        window_horizon(span[1], moment)  # refuse an overlong window before fitting anything
    prepared = None
    if span is None or span[1] > moment:
        prepared = prepare_model(
            session, account_id, chosen, moment, options.train_days, artifact_dir
        )
        notes += prepared.notes
    first = floor_hour(moment)
    start, end = span if span is not None else (first, first + hours * HOUR)
    result, hourly = window_forecast(
        session, account_id, start, end, moment, prepared, options.samples, options.seed
    )
    if prepared is None:  # the window is over: every post observed, no model asked
        return WindowRun(None, moment, result)
    if hourly is not None:
        store_hourly(session, account_id, prepared, hourly)
    return WindowRun(chosen, moment, result, notes)


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


def window_json(account: str, run: WindowRun, brackets: list[Bracket]) -> dict[str, Any]:
    """Which account, model and moment answered (as the hourly JSON says), then the
    window's distribution and its brackets."""
    window = run.window
    return {
        "account": account,
        "model": run.model,
        "as_of": run.as_of.isoformat(),
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "observed": window.observed,
        "mean": window.mean,
        "quantiles": {_key(level): value for level, value in window.quantiles().items()},
        "brackets": [
            {"low": b.low, "high": b.high, "probability": b.probability} for b in brackets
        ],
    }


def fan_chart_png(account: str, run: HourlyRun) -> bytes:
    """The fan chart of an hourly run as PNG bytes (the CLI's --plot, for the API)."""
    from musktracker.forecasting.plots import fan_figure, png_bytes

    history = run.prepared.history.counts.iloc[-FAN_HISTORY_HOURS:]
    return png_bytes(fan_figure(history, run.hourly, f"@{account}: {run.model} forecast"))
