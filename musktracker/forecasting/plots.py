"""Pictures of forecasts (matplotlib, Agg backend: files only, no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from musktracker.evaluation.backtest import BacktestResult
from musktracker.forecasting.brackets import Bracket
from musktracker.models.base import PredictiveDistribution

FAN_LEVELS = (0.5, 0.8, 0.95)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fan_chart(
    history: pd.Series, forecast: PredictiveDistribution, path: Path, title: str
) -> Path:
    """Hourly history, then the forecast mean with 50/80/95% central bands."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.step(history.index, history.to_numpy(), where="post", color="black", lw=1, label="observed")
    times = forecast.target_times
    for level in sorted(FAN_LEVELS, reverse=True):
        lo, hi = forecast.interval(level)
        ax.fill_between(
            times, lo, hi, step="post", alpha=0.2 + 0.15 * (1 - level), color="tab:blue",
            label=f"{int(level * 100)}% interval", lw=0,
        )
    ax.step(times, forecast.mean, where="post", color="tab:blue", lw=1.5, label="forecast mean")
    # matplotlib's date converter accepts datetimes; its stubs only say float
    ax.axvline(times[0], color="grey", ls="--", lw=1)  # type: ignore[arg-type]
    ax.set_ylabel("posts per hour")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def bracket_bars(brackets: Sequence[Bracket], path: Path, title: str) -> Path:
    """Probability of every count bracket of a window."""
    shown = [b for b in brackets if b.probability > 0] or list(brackets)
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(shown)), 4.5))
    ax.bar([b.label() for b in shown], [b.probability for b in shown], color="tab:blue")
    ax.set_ylabel("probability")
    ax.set_xlabel("posts in the window")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", rotation=60, labelsize=8)
    fig.tight_layout()
    return _save(fig, path)


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
