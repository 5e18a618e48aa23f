"""Hawkes speed and correctness on the real @elonmusk posts (../shared/data/elonmusk/posts.csv).

Prints three tables:
1. maximum-likelihood fit time (best of 3) on all posts and on the last 30 days, with the
   hour-of-day + day-of-week baseline and decay estimated (with and without the trend term);
2. the O(n) recursive log-likelihood against the brute-force O(n^2) double sum on samples;
3. forecast time (1,000 sample paths) for 24 hours and 7 days, fitted on the last 30 days.

Run: .venv/bin/python -m benchmarks.hawkes_fit [--posts FILE]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import numpy as np

from benchmarks.common import posts_only_benchmark
from musktracker.models.base import single_threaded_blas
from musktracker.models.hawkes import (
    HawkesData,
    HawkesModel,
    fit_hawkes,
    log_likelihood,
    log_likelihood_direct,
)
from musktracker.models.history import history_from_posts

END = datetime(2026, 3, 1, tzinfo=UTC)
T = TypeVar("T")


def best_of(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    """Fastest wall time of `runs` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def main(argv: list[str] | None = None) -> None:
    posts = posts_only_benchmark(__doc__, argv)
    all_days = (END - posts[0].to_pydatetime()).total_seconds() / 86400 + 1

    print("## Hawkes maximum likelihood (L-BFGS-B, analytic gradient; best of 3)\n")
    print(
        "| data | posts | baseline | fit s | iterations | branching ratio | decay /h "
        "| half-life min | log-lik |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, days in [("all posts", all_days), ("last 30 days", 30.0)]:
        history = history_from_posts(posts, END, days)
        for trend in (False, True):
            data = HawkesData.from_history(history, trend)
            with single_threaded_blas():
                seconds, fit = best_of(3, partial(fit_hawkes, data))
            baseline = "hour+weekday" + (" + trend" if trend else "")
            print(
                f"| {label} | {len(data.times):,} | {baseline} | {seconds:.3f} | {fit.iterations} "
                f"| {fit.alpha:.3f} | {fit.decay:.2f} | {60 * np.log(2) / fit.decay:.2f} "
                f"| {fit.log_likelihood:,.1f} |"
            )

    print("\n## Recursive O(n) log-likelihood vs brute-force O(n^2) double sum\n")
    print("| sample | posts | alpha | decay /h | recursive | brute force | abs diff |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for label, end, days in [
        ("last 30 days", END, 30.0),
        ("7 days to 2024-06-01", datetime(2024, 6, 1, tzinfo=UTC), 7.0),
    ]:
        data = HawkesData.from_history(history_from_posts(posts, end, days), trend=True)
        for alpha, decay in [(0.8, 10.0), (0.5, 1.0), (0.95, 120.0)]:
            theta = rng.normal(-1.0, 0.3, data.rows.shape[1])
            x = np.concatenate([theta, [np.log(alpha), np.log(decay)]])
            fast, _ = log_likelihood(x, data)
            slow = log_likelihood_direct(x, data)
            print(
                f"| {label} | {len(data.times):,} | {alpha} | {decay} | {fast:,.6f} "
                f"| {slow:,.6f} | {abs(fast - slow):.2e} |"
            )

    print("\n## Forecast by Ogata thinning (1,000 paths; best of 3), fitted on the last 30 days\n")
    model = HawkesModel().fit(history_from_posts(posts, END, 30))
    state = model.state_
    print(
        f"fitted: branching ratio {state.fit.alpha:.3f}, decay {state.fit.decay:.2f}/h "
        f"(half-life {60 * np.log(2) / state.fit.decay:.1f} min), excitation at end "
        f"{state.excitation_at_end:.2f} posts/h\n"
    )
    print("| horizon | seconds | mean total | 95% interval of total |")
    print("|---|---|---|---|")
    for hours in (24, 168):
        seconds, forecast = best_of(3, partial(model.predict, hours, 1000, 1))
        lo, hi = np.quantile(forecast.total(), [0.025, 0.975])
        print(f"| {hours} h | {seconds:.3f} | {forecast.mean.sum():.1f} | {lo:.0f} to {hi:.0f} |")


if __name__ == "__main__":
    main()
