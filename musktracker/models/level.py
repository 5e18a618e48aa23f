"""Uncertainty of the posting level, shared by the models' sample paths.

The level drifts by tens of percent from month to month, so hour-by-hour noise alone makes
window totals far too sure of themselves. Each sample path gets one multiplicative level
factor (log-normal, mean 1) whose spread is the day-to-day spread of daily totals around
their trailing weekly mean in the training history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

_TRAILING_DAYS = 7


def daily_level_log_sd(counts: pd.Series) -> float:
    """Standard deviation of log(day total / trailing 7-day mean) over complete UTC days."""
    daily = counts.groupby(pd.DatetimeIndex(counts.index).floor("D")).agg(["sum", "size"])
    totals = daily.loc[daily["size"] == 24, "sum"].astype("float64")
    if len(totals) <= _TRAILING_DAYS + 2:
        return 0.0
    trailing = totals.shift(1).rolling(_TRAILING_DAYS).mean()
    ratios = np.log((totals + 1.0) / (trailing + 1.0))
    ratios = ratios[np.isfinite(ratios)]
    return float(ratios.std(ddof=1))


def level_factors(rng: np.random.Generator, n_samples: int, log_sd: float) -> np.ndarray:
    """One log-normal factor with mean 1 per sample path, shape (n_samples, 1)."""
    if log_sd <= 0:
        return np.ones((n_samples, 1))
    draws = rng.normal(-0.5 * log_sd**2, log_sd, size=(n_samples, 1))
    return np.asarray(np.exp(draws))


def level_quantiles(log_sd: float, points: int = 16) -> np.ndarray:
    """Equally weighted quadrature points of the level factor (its quantiles at mid-levels),
    for averaging an analytic pmf over the factor."""
    if log_sd <= 0:
        return np.ones(1)
    levels = (np.arange(points) + 0.5) / points
    return np.asarray(np.exp(-0.5 * log_sd**2 + log_sd * ndtri(levels)))
