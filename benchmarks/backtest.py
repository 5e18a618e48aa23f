"""Accuracy and speed of every volume model against the baselines, on the shared @elonmusk
posts, at the end of the data and at three earlier as-of dates a few months apart.

Two backtests per as-of date, both rolling-origin with refits and no look-ahead:
- 24-hour forecasts: 12 windows a day apart, 30 days of training (the CLI defaults);
- 7-day totals: 12 windows a week apart, 60 days of training.
Metrics are pooled over all as-of dates (see docs/MODELS.md, Metrics). The tables also give
the wall time of each 24-hour 12-window backtest of all models (2 worker processes) and the
time of one 24-hour forecast (fit on 30 days + 1,000 sample paths) per model.

Run: .venv/bin/python -m benchmarks.backtest [--posts ../shared/data/elonmusk/posts.csv]
Nothing here is tuned on the scored windows: models run with their default hyperparameters.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmarks.common import POSTS, data_file, data_line, load_posts, machine, make_parser
from musktracker.evaluation.backtest import ENSEMBLE, BacktestPlan, BacktestResult, run_backtest
from musktracker.evaluation.metrics import summarize
from musktracker.models.history import history_from_posts
from musktracker.models.registry import BASELINES, create_model, model_names

AS_OF_DATES = (
    datetime(2026, 3, 1, tzinfo=UTC),  # end of the shared data
    datetime(2025, 11, 1, tzinfo=UTC),
    datetime(2025, 7, 1, tzinfo=UTC),
    datetime(2025, 3, 1, tzinfo=UTC),
)
console = Console(width=200)


def run(
    posts: pd.DatetimeIndex, as_of: datetime, models: list[str], horizon: int, train_days: float,
    step: timedelta,
) -> tuple[BacktestResult, float]:
    plan = BacktestPlan(as_of, 12, train_days, horizon, step, n_samples=1000, seed=0)
    began = time.perf_counter()
    result, _ = run_backtest(plan, posts, [], models, workers=2)
    return result, time.perf_counter() - began


def pooled(results: list[BacktestResult]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for model in sorted({m for r in results for m in r.models()}):
        outcomes = [o for r in results for o in r.of(model)]
        row = summarize([o.score for o in outcomes])
        row["seconds"] = float(np.mean([o.fit_seconds for o in outcomes]))
        row["windows"] = float(len(outcomes))
        table[model] = row
    return table


def print_accuracy(
    hourly: dict[str, dict[str, float]], weekly: dict[str, dict[str, float]],
    per_date: dict[datetime, dict[str, dict[str, float]]],
) -> None:
    table = Table(title="Accuracy, pooled over the four as-of dates (lower is better except "
                  "coverage; * = best baseline by 24 h CRPS)")
    columns = [
        "model", "24h MAE", "24h CRPS", "24h log score", "24h 95% cov", "24h PIT 95% cov",
        "7d MAE", "7d MAPE",
        "7d CRPS", "7d 95% cov", "fit s/window (24h)",
        *(f"24h CRPS {d:%Y-%m}" for d in per_date),
    ]
    for c in columns:
        if c == "model":
            table.add_column(c, no_wrap=True)
        else:
            table.add_column(c, justify="right")
    baseline = min((m for m in hourly if m in BASELINES), key=lambda m: hourly[m]["crps"])
    for model in sorted(hourly, key=lambda m: hourly[m]["crps"]):
        h, w = hourly[model], weekly.get(model)
        table.add_row(
            model + (" *" if model == baseline else ""),
            f"{h['mae']:.2f}", f"{h['crps']:.3f}", f"{h['log_score']:.3f}",
            f"{100 * h['coverage_95']:.1f}%", f"{100 * h['pit_coverage_95']:.1f}%",
            f"{w['total_mae']:.1f}" if w else "-", f"{w['total_mape']:.1f}%" if w else "-",
            f"{w['total_crps']:.1f}" if w else "-",
            f"{100 * w['total_coverage_95']:.0f}%" if w else "-",
            f"{h['seconds']:.2f}",
            *(f"{per_date[d][model]['crps']:.3f}" if model in per_date[d] else "-"
              for d in per_date),
        )
    console.print(table)
    console.print(f"fit s/window: {ENSEMBLE}'s is the sum of its members' (it fits them all)")
    best_h = min(hourly, key=lambda m: hourly[m]["crps"])
    base_w = min((m for m in weekly if m in BASELINES), key=lambda m: weekly[m]["total_crps"])
    best_w = min(weekly, key=lambda m: weekly[m]["total_crps"])
    gain_h = 100 * (1 - hourly[best_h]["crps"] / hourly[baseline]["crps"])
    gain_w = 100 * (1 - weekly[best_w]["total_crps"] / weekly[base_w]["total_crps"])
    console.print(
        f"24 h CRPS: best model {best_h} {hourly[best_h]['crps']:.3f} vs best baseline "
        f"{baseline} {hourly[baseline]['crps']:.3f}: {gain_h:+.1f}% better (target >= 10%)\n"
        f"7-day total CRPS: best model {best_w} {weekly[best_w]['total_crps']:.1f} vs best "
        f"baseline {base_w} {weekly[base_w]['total_crps']:.1f}: {gain_w:+.1f}% better "
        "(target >= 15%)"
    )


def forecast_seconds(posts: pd.DatetimeIndex, models: list[str]) -> dict[str, float]:
    """Fit on 30 days + 24-hour forecast with 1,000 paths, median of 3, per model."""
    history = history_from_posts(posts, AS_OF_DATES[0], 30)
    seconds = {}
    for name in models:
        runs = []
        for _ in range(3):
            began = time.perf_counter()
            create_model(name).fit(history).predict(24, 1000, seed=0)
            runs.append(time.perf_counter() - began)
        seconds[name] = float(np.median(runs))
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--posts", type=data_file, default=str(POSTS), help="post times (CSV)")
    args = parser.parse_args(argv)
    posts = load_posts(args.posts)
    models = model_names()
    print(machine())
    print(
        data_line(args.posts, len(posts), "posts")
        + f", {posts[0]:%Y-%m-%d} to {posts[-1]:%Y-%m-%d}"
    )
    hourly_results, weekly_results, walls = [], [], {}
    per_date = {}
    for as_of in AS_OF_DATES:
        result, wall = run(posts, as_of, models, 24, 30, timedelta(days=1))
        hourly_results.append(result)
        per_date[as_of] = result.summary()
        walls[as_of] = wall
        weekly, wall_w = run(posts, as_of, models, 168, 60, timedelta(days=7))
        weekly_results.append(weekly)
        console.print(f"as of {as_of:%Y-%m-%d}: 24 h backtest {wall:.1f} s, 7-day {wall_w:.1f} s"
                      + (f"; failures: {sorted(set(m for m, _ in result.failures))}"
                         if result.failures or weekly.failures else ""))
    print_accuracy(pooled(hourly_results), pooled(weekly_results), per_date)
    speed = Table(title="Speed (2 worker processes for backtests)")
    speed.add_column("what")
    speed.add_column("seconds", justify="right")
    speed.add_column("goal", justify="right")
    for as_of, wall in walls.items():
        speed.add_row(f"12-window 24 h backtest of all {len(models)} models, as of "
                      f"{as_of:%Y-%m-%d}", f"{wall:.1f}", "< 60")
    for name, sec in forecast_seconds(posts, models).items():
        speed.add_row(f"24 h forecast (30-day fit + 1,000 paths): {name}", f"{sec:.2f}", "< 1")
    console.print(speed)


if __name__ == "__main__":
    main()
