"""Accuracy of count forecasts: point errors, proper scoring rules and interval coverage.

Every function takes plain arrays so the same code scores backtests, stored forecasts and
tests. Conventions (also in docs/MODELS.md, section Metrics):

- the point forecast is the predictive mean;
- MAPE is defined for zero counts as 100 * sum|y - mean| / max(sum y, 1) (the weighted
  MAPE, or WAPE): a ratio of totals, so hours with zero posts add their error to the
  numerator instead of dividing by zero; for one number (a window total) it is the usual
  absolute percentage error with the actual floored at 1;
- CRPS is the continuous ranked probability score of the predictive distribution, which
  for counts equals sum_k (F(k) - 1{y <= k})^2; lower is better, in units of posts;
- the log score is the mean negative log predictive probability of the observed counts
  (lower is better);
- coverage is the share of actuals inside the central 95% interval, bounds included; the
  PIT coverage is the calibration-exact version for counts (see `pit_coverage`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from musktracker.models.base import PredictiveDistribution

INTERVAL_LEVEL = 0.95

FloatArray = NDArray[np.float64]


def rmse(actual: ArrayLike, point: ArrayLike) -> float:
    err = np.asarray(actual, dtype="float64") - np.asarray(point, dtype="float64")
    return float(np.sqrt(np.mean(err**2)))


def mae(actual: ArrayLike, point: ArrayLike) -> float:
    err = np.asarray(actual, dtype="float64") - np.asarray(point, dtype="float64")
    return float(np.mean(np.abs(err)))


def mape(actual: ArrayLike, point: ArrayLike) -> float:
    """Weighted MAPE in percent, defined when counts are zero (see module docstring)."""
    y = np.asarray(actual, dtype="float64")
    err = np.abs(y - np.asarray(point, dtype="float64"))
    return float(100.0 * err.sum() / max(float(y.sum()), 1.0))


def crps_samples(samples: ArrayLike, actual: ArrayLike) -> FloatArray:
    """CRPS of the empirical distribution of `samples` (n_samples, horizon) per column.

    Uses CRPS = E|X - y| - E|X - X'| / 2 with the O(n log n) sorted-sample form of
    E|X - X'| = 2/n^2 * sum_i (2i - n - 1) x_(i), exact for the empirical distribution.
    """
    x = np.sort(np.asarray(samples, dtype="float64"), axis=0)
    if x.ndim == 1:
        x = x[:, None]
    y = np.atleast_1d(np.asarray(actual, dtype="float64"))
    n = x.shape[0]
    weights = (2.0 * np.arange(1, n + 1) - n - 1.0)[:, None]
    spread = 2.0 * (weights * x).sum(axis=0) / n**2
    return np.asarray(np.abs(x - y[None, :]).mean(axis=0) - 0.5 * spread, dtype="float64")


def crps_pmf(pmf: ArrayLike, actual: ArrayLike) -> FloatArray:
    """CRPS from probabilities over 0..K-1 per row (horizon, K); mass beyond K-1 is ignored,
    so K must cover the support (the exact count formula sum_k (F(k) - 1{y<=k})^2)."""
    p = np.atleast_2d(np.asarray(pmf, dtype="float64"))
    y = np.atleast_1d(np.asarray(actual))
    cdf = np.cumsum(p, axis=1)
    k = np.arange(p.shape[1])[None, :]
    step = (k >= y[:, None]).astype("float64")
    return np.asarray(((cdf - step) ** 2).sum(axis=1), dtype="float64")


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    y = np.asarray(actual, dtype="float64")
    inside = (y >= np.asarray(lower, dtype="float64")) & (y <= np.asarray(upper, dtype="float64"))
    return float(np.mean(inside))


def pit_coverage(samples: ArrayLike, actual: ArrayLike, level: float = INTERVAL_LEVEL) -> float:
    """Expected share of randomised PIT values inside the central `level` band.

    For counts the central interval of a calibrated forecast covers more than `level` (with
    P(0) > 2.5% its lower end is 0), so plain coverage cannot show over-wide intervals. The
    randomised PIT u ~ Uniform(F(y-1), F(y)) is uniform under calibration, so the share of u in
    [(1-level)/2, (1+level)/2] is exactly `level`; we average its expectation per hour."""
    x = np.asarray(samples)
    y = np.atleast_1d(np.asarray(actual))
    upper = (x <= y[None, :]).mean(axis=0)
    lower = (x <= y[None, :] - 1).mean(axis=0)
    lo, hi = (1 - level) / 2, (1 + level) / 2
    overlap = np.clip(np.minimum(upper, hi) - np.maximum(lower, lo), 0.0, None)
    width = upper - lower
    point = ((upper >= lo) & (upper <= hi)).astype("float64")
    share = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), point)
    return float(share.mean())


@dataclass(frozen=True)
class WindowScore:
    """Scores of one forecast of consecutive hours against what happened."""

    hours: int
    rmse: float
    mae: float
    mape: float
    crps: float
    log_score: float
    coverage_95: float
    pit_coverage_95: float
    total_actual: int
    total_mean: float
    total_mae: float
    total_mape: float
    total_crps: float
    total_coverage_95: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> WindowScore:
        """The inverse of `as_dict` (counts come back as integers)."""
        values: dict[str, Any] = {k: float(v) for k, v in data.items()}
        values["hours"], values["total_actual"] = int(data["hours"]), int(data["total_actual"])
        return cls(**values)


def score_forecast(forecast: PredictiveDistribution, actual: ArrayLike) -> WindowScore:
    """Every metric for hourly counts `actual` and for their sum over the whole window."""
    y = np.asarray(actual, dtype="int64")
    samples = np.asarray(forecast.samples)
    if samples.shape[1] != len(y):
        raise ValueError(f"forecast has {samples.shape[1]} hours but {len(y)} actuals were given")
    mean = np.asarray(forecast.mean, dtype="float64")
    lower, upper = forecast.interval(INTERVAL_LEVEL)
    totals = samples.sum(axis=1)
    total = int(y.sum())
    total_lo, total_hi = np.quantile(totals, [0.025, 0.975], method="inverted_cdf")
    return WindowScore(
        hours=len(y),
        rmse=rmse(y, mean),
        mae=mae(y, mean),
        mape=mape(y, mean),
        crps=float(crps_samples(samples, y).mean()),
        log_score=float(-np.mean(forecast.log_pmf(y))),
        coverage_95=coverage(y, lower, upper),
        pit_coverage_95=pit_coverage(samples, y),
        total_actual=total,
        total_mean=float(totals.mean()),
        total_mae=abs(total - float(totals.mean())),
        total_mape=mape([total], [totals.mean()]),
        total_crps=float(crps_samples(totals, [total])[0]),
        total_coverage_95=coverage([total], [total_lo], [total_hi]),
    )


def summarize(scores: list[WindowScore]) -> dict[str, float]:
    """Pool window scores: hour-weighted means, RMSE from pooled squared errors, MAPE as
    pooled absolute error over pooled actuals (so it is the same definition over all hours)."""
    if not scores:
        raise ValueError("no window scores to summarize")
    hours = np.array([s.hours for s in scores], dtype="float64")
    weights = hours / hours.sum()

    def pooled(name: str) -> float:
        return float(np.dot(weights, [getattr(s, name) for s in scores]))

    abs_error = float(np.dot(hours, [s.mae for s in scores]))
    actual = float(sum(s.total_actual for s in scores))
    totals_err = sum(s.total_mae for s in scores)
    return {
        "rmse": float(np.sqrt(np.dot(weights, [s.rmse**2 for s in scores]))),
        "mae": pooled("mae"),
        "mape": 100.0 * abs_error / max(actual, 1.0),
        "crps": pooled("crps"),
        "log_score": pooled("log_score"),
        "coverage_95": pooled("coverage_95"),
        "pit_coverage_95": pooled("pit_coverage_95"),
        "total_mae": float(np.mean([s.total_mae for s in scores])),
        "total_mape": 100.0 * totals_err / max(actual, 1.0),
        "total_crps": float(np.mean([s.total_crps for s in scores])),
        "total_coverage_95": float(np.mean([s.total_coverage_95 for s in scores])),
    }
