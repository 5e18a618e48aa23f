"""Pictures of posting volume: forecasts, brackets, backtests and regime shifts (matplotlib,
Agg backend: files only, no display needed)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from musktracker.atomicfile import atomic_writer
from musktracker.evaluation.backtest import BacktestResult
from musktracker.evaluation.regimes import RegimeShift
from musktracker.forecasting.brackets import Bracket
from musktracker.models.base import PredictiveDistribution
from musktracker.utc import HOUR

FAN_LEVELS = (0.5, 0.8, 0.95)


def _save(fig: Figure, path: Path) -> Path:
    """Write the figure whole or not at all: a command killed while drawing left a
    truncated PNG (the database work before it was already committed)."""
    try:
        with atomic_writer(path) as fh:
            fig.savefig(fh, dpi=110, format=path.suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)
    return path


def png_bytes(fig: Figure) -> bytes:
    """A figure as PNG bytes (what the API serves), closed afterwards."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _through_last_hour(index: pd.DatetimeIndex, values: Any) -> tuple[pd.DatetimeIndex, Any]:
    """A step line drawn with `where="post"` ends at the start of its last point; repeating
    the last value at the end of the last hour draws that hour too."""
    values = np.asarray(values)
    if len(index) == 0:
        return index, values
    extended = pd.DatetimeIndex([*index, index[-1] + HOUR])
    return extended, np.append(values, values[-1])


def fan_figure(history: pd.Series, forecast: PredictiveDistribution, title: str) -> Figure:
    """Hourly history, then the forecast mean with 50/80/95% central bands; every line and
    band runs to the end of its last hour (the observed line meets the dashed "now" line)."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    seen, observed = _through_last_hour(pd.DatetimeIndex(history.index), history.to_numpy())
    ax.step(seen, observed, where="post", color="black", lw=1, label="observed")
    times = forecast.target_times
    for level in sorted(FAN_LEVELS, reverse=True):
        lo, hi = forecast.interval(level)
        band, lo = _through_last_hour(times, lo)
        _, hi = _through_last_hour(times, hi)
        ax.fill_between(
            band, lo, hi, step="post", alpha=0.2 + 0.15 * (1 - level), color="tab:blue",
            label=f"{int(level * 100)}% interval", lw=0,
        )
    ahead, mean = _through_last_hour(times, forecast.mean)
    ax.step(ahead, mean, where="post", color="tab:blue", lw=1.5, label="forecast mean")
    # matplotlib's date converter accepts datetimes; its stubs only say float
    ax.axvline(times[0], color="grey", ls="--", lw=1)  # type: ignore[arg-type]
    ax.set_ylabel("posts per hour")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def fan_chart(
    history: pd.Series, forecast: PredictiveDistribution, path: Path, title: str
) -> Path:
    """The fan chart (see fan_figure) as a PNG file."""
    return _save(fan_figure(history, forecast, title), path)


BRACKETS_LABELLED = 40
"""Up to this many brackets, each bar carries its probability; past it the numbers overlap."""
BRACKET_TICKS = 60
"""At most this many bracket names on the x axis (every k-th beyond), and the figure stops
widening there, so 200 brackets still make a PNG of ordinary size."""


def bracket_figure(brackets: Sequence[Bracket], title: str) -> Figure:
    """Probability of every count bracket of a window, zero ones included: a bracket the
    user asked for that cannot happen is an answer too. Bars carry their probability as a
    percentage with the JSON's four decimals, so the picture needs no table beside it."""
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * min(len(brackets), BRACKET_TICKS)), 4.5))
    positions = np.arange(len(brackets))
    bars = ax.bar(positions, [b.probability for b in brackets], color="tab:blue")
    if len(brackets) <= BRACKETS_LABELLED:
        ax.bar_label(bars, labels=[f"{100 * b.probability:.2f}%" for b in brackets], fontsize=7)
    step = math.ceil(len(brackets) / BRACKET_TICKS)
    ax.set_xticks(positions[::step], [b.label() for b in brackets][::step])
    ax.set_ylabel("probability")
    ax.set_xlabel("posts in the window")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", rotation=60, labelsize=8)
    ax.margins(y=0.12)  # room for the labels above the tallest bar
    fig.tight_layout()
    return fig


def bracket_bars(brackets: Sequence[Bracket], path: Path, title: str) -> Path:
    """The bracket bars (see bracket_figure) as a PNG file."""
    return _save(bracket_figure(brackets, title), path)


def backtest_report(
    result: BacktestResult, shifted: set[datetime], path: Path, highlight: str, title: str
) -> Path:
    """One panel per window: actual counts, every model's mean, the highlighted model's 95%
    interval; windows after a detected regime shift are titled so."""
    origins = result.plan.origins()
    cols = min(4, len(origins))
    rows = math.ceil(len(origins) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    models = result.models()
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    for ax, origin in zip(axes.flat, origins, strict=False):
        hours = np.arange(result.plan.horizon)
        drawn = False
        for model in models:
            outcome = next((o for o in result.of(model) if o.origin == origin), None)
            if outcome is None:
                continue
            if not drawn:
                ax.step(hours, outcome.actual, where="post", color="black", lw=1.2, label="actual")
                drawn = True
            if model == highlight:
                ax.fill_between(
                    hours, outcome.lower, outcome.upper, step="post", color=colours[model],
                    alpha=0.25, lw=0,
                )
            ax.step(hours, outcome.mean, where="post", color=colours[model], lw=1, label=model)
        mark = " (after regime shift)" if origin in shifted else ""
        ax.set_title(f"{origin:%Y-%m-%d %H:%M}Z{mark}", fontsize=9, color="red" if mark else "k")
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(origins) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    return _save(fig, path)


SHIFT_COLOURS = {"up": "tab:green", "down": "tab:red"}
LEVEL_BEFORE_DAYS = 7
"""A CUSUM shift's level before the change is the mean of the week before it."""


def regime_figure(daily: pd.Series, shifts: dict[str, list[RegimeShift]], title: str) -> Figure:
    """Posts per day with their 7-day mean, and the alerts of both rules: each CUSUM shift
    as a band from the change to the day it was detected, with the level before (dashed,
    the week before) and after (solid); each rolling-variance alert as a triangle at the
    top, pointing where the level went. The picture shows what the table cannot: how long
    a rule took to notice, and whether the level really moved."""
    fig, ax = plt.subplots(figsize=(12, 4.8))
    ax.step(daily.index, daily.to_numpy(), where="post", color="0.7", lw=0.6,
            label="posts per day")
    ax.plot(daily.index, daily.rolling(7, min_periods=1).mean().to_numpy(), color="black",
            lw=1.2, label="7-day mean")
    drawn: set[str] = set()
    for shift in shifts.get("cusum", []):
        colour = SHIFT_COLOURS[shift.direction]
        label = f"CUSUM shift {shift.direction}: change to detection"
        change, detected = _day(shift.change_at), _day(shift.detected_at)
        ax.axvspan(change, detected, color=colour, alpha=0.15, lw=0,
                   label=None if label in drawn else label)
        drawn.add(label)
        ax.hlines(shift.level_after, change, detected, color=colour, lw=2)
        if shift.level_before is not None:
            week_before = _day(shift.change_at - timedelta(days=LEVEL_BEFORE_DAYS))
            ax.hlines(shift.level_before, week_before, change, color=colour, lw=2, ls="--")
    top = float(daily.max()) * 1.05 if len(daily) else 1.0
    for direction, marker in (("up", "^"), ("down", "v")):
        times = [_day(s.detected_at) for s in shifts.get("rolling_variance", [])
                 if s.direction == direction]
        if times:
            ax.scatter(times, [top] * len(times), marker=marker, color="tab:purple", s=30,
                       label=f"rolling-variance alert, level {direction}", zorder=3)
    ax.set_ylim(0, top * 1.06)
    ax.set_ylabel("posts per day (UTC days)")
    ax.set_title(title)
    fig.autofmt_xdate()
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))  # the legend below: the alerts sit at the top
    return fig


def _day(moment: datetime) -> float:
    """A time on matplotlib's date axis (typed: matplotlib's date2num is not)."""
    return float(date2num(moment))  # type: ignore[no-untyped-call]


def regime_chart(
    daily: pd.Series, shifts: dict[str, list[RegimeShift]], path: Path, title: str
) -> Path:
    """The regime chart (see regime_figure) as a PNG file."""
    return _save(regime_figure(daily, shifts, title), path)
