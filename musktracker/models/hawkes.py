"""Univariate Hawkes process on the real post timestamps, with an exponential kernel.

Intensity (time t in hours since the start of the training window):

    lambda(t) = mu(t) + alpha * delta * sum_{t_j < t} exp(-delta (t - t_j))
    mu(t)     = exp(x_h(t) . theta)        (piecewise constant per hourly bucket h)

x_h holds one-hot hour of day, day of week (Monday is the reference), the event intensity of
the hour and optionally a linear trend; alpha is the branching ratio (expected offspring per
post) and delta the decay rate per hour. Log-likelihood on [0, T):

    sum_i log lambda(t_i) - sum_h mu_h - alpha * sum_i (1 - exp(-delta (T - t_i)))

The excitation sums A_i = sum_{j<i} exp(-delta (t_i - t_{j})) follow the O(n) recursion
A_i = exp(-delta (t_i - t_{i-1})) (1 + A_{i-1}), and their derivative in delta a similar one;
both are one bidiagonal linear system solved in a single LAPACK call, so the likelihood and
its analytic gradient cost a few vectorised passes and no Python loop over posts. Equal
timestamps are fine: a tied earlier post simply excites with weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.linalg import lapack
from scipy.optimize import minimize

from musktracker.features.build import EventWindow, compute_features
from musktracker.models.base import History, ModelError, PredictiveDistribution, VolumeModel
from musktracker.models.level import level_factors, weekly_level_log_sd

_SECONDS_PER_HOUR = 3600.0
_ALPHA_BOUNDS = (1e-4, 0.98)
_DECAY_BOUNDS = (0.05, 3600.0)
MIN_HISTORY_HOURS = 168
"""One whole week: the baseline has one coefficient per hour of day and per weekday, and on
a shorter history some (hour, weekday) pairs of the next days were never seen. Their rate is
then unconstrained: on 3 days of a quiet account the fit put 7 million posts in one hour of
the next day, and simulating that exhausted the machine's memory."""


def _design(
    hours: pd.DatetimeIndex,
    events: list[EventWindow],
    end: datetime,
    trend: bool,
    trend_scale_hours: int,
) -> np.ndarray:
    """Baseline design matrix, one row per hourly bucket (see the module docstring)."""
    columns = [np.eye(24)[hours.hour.to_numpy()], np.eye(7)[hours.day_of_week.to_numpy()][:, 1:]]
    if events:
        empty = pd.Series(dtype="int64", index=pd.DatetimeIndex([], tz="UTC"))
        intensity = compute_features(empty, events, hours)["event_intensity"].to_numpy()
        columns.append(intensity[:, None])
    if trend:
        offset = (hours - pd.Timestamp(end)) / pd.Timedelta(hours=trend_scale_hours)
        columns.append(np.asarray(offset, dtype="float64")[:, None])
    return np.hstack(columns).astype("float64")


@dataclass(frozen=True)
class HawkesData:
    """Post times in hours since the window start, and the baseline design.

    Hours share few distinct design rows (168 without trend or events), so the design is
    stored as its distinct `rows`, with `row_of_hour` mapping each hour to its row; the
    baseline then costs O(distinct rows) per likelihood evaluation instead of O(hours).
    """

    times: np.ndarray
    row_of_hour: np.ndarray
    rows: np.ndarray
    row_of_post: np.ndarray
    hours_per_row: np.ndarray

    @property
    def horizon(self) -> float:
        return float(len(self.row_of_hour))

    @classmethod
    def from_history(cls, history: History, trend: bool) -> HawkesData:
        hours = pd.DatetimeIndex(history.counts.index)
        times = (history.post_times - history.start.timestamp()) / _SECONDS_PER_HOUR
        return cls.build(times, _design(hours, history.events, history.end, trend, len(hours)))

    @classmethod
    def build(cls, times: np.ndarray, design: np.ndarray) -> HawkesData:
        """From post times (hours since the window start) and the per-hour design."""
        design = np.ascontiguousarray(design, dtype="float64")
        as_bytes = design.view(np.dtype((np.void, design.itemsize * design.shape[1]))).ravel()
        _, first, row_of_hour = np.unique(as_bytes, return_index=True, return_inverse=True)
        rows = design[first]
        times = np.asarray(times, dtype="float64")
        bucket = np.minimum(times.astype("int64"), len(design) - 1)
        row_of_post = row_of_hour[bucket]
        hours_per_row = np.bincount(row_of_hour, minlength=len(rows)).astype("float64")
        return cls(times, row_of_hour, rows, row_of_post, hours_per_row)


def _unpack(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    return x[:-2], float(np.exp(x[-2])), float(np.exp(x[-1]))


def _exp_neg(x: np.ndarray) -> np.ndarray:
    """exp(-x) for x >= 0, floored at 1e-300: subnormal results would make exp an order of
    magnitude slower and contribute nothing."""
    return np.asarray(np.exp(-np.minimum(x, 690.0)))


def excitation_sums(times: np.ndarray, decay: float) -> tuple[np.ndarray, np.ndarray]:
    """A_i = sum_{j<i} e^{-d(t_i-t_j)} and B_i = dA_i/dd = -sum_{j<i} (t_i-t_j) e^{-d(t_i-t_j)}.

    With r_i = e^{-d (t_i - t_{i-1})}: A_i = r_i (1 + A_{i-1}) and C_i = r_i (C_{i-1} + t_{i-1})
    where C_i = sum_{j<i} t_j e^{-d(t_i-t_j)}, so B_i = C_i - t_i A_i. Both recursions form one
    unit lower-bidiagonal system with two right-hand sides, solved in a single LAPACK call
    (r_i <= 1, so the tridiagonal solver never pivots and matches the sequential loop). A tie
    (gap 0) gives r_i = 1: tied posts excite each other fully, nothing breaks.
    """
    n = len(times)
    if n == 1:
        return np.zeros(1), np.zeros(1)
    ratios = _exp_neg(decay * np.diff(times))
    rhs = np.zeros((n, 2), order="F")
    rhs[1:, 0] = ratios
    rhs[1:, 1] = ratios * times[:-1]
    *_, solution, info = lapack.dgtsv(-ratios, np.ones(n), np.zeros(n - 1), rhs, 1, 1, 1, 1)
    if info != 0:
        raise ModelError(f"hawkes: excitation recursion failed (LAPACK info {info})")
    a = solution[:, 0]
    return a, solution[:, 1] - times * a


def log_likelihood(x: np.ndarray, data: HawkesData) -> tuple[float, np.ndarray]:
    """Log-likelihood and its gradient in the transformed parameters
    x = (theta, log alpha, log delta)."""
    theta, alpha, decay = _unpack(x)
    t = data.times
    n_rows = len(data.rows)
    row_of_post, hours_per_row = data.row_of_post, data.hours_per_row
    mu_rows = np.exp(data.rows @ theta)
    a, b = excitation_sums(t, decay)
    mu = mu_rows[row_of_post]
    lam = mu + alpha * decay * a
    age = data.horizon - t
    tail = _exp_neg(decay * age)
    compensator = float(hours_per_row @ mu_rows) + alpha * (len(t) - float(tail.sum()))
    value = float(np.log(lam).sum()) - compensator

    inv = 1.0 / lam
    per_row = np.bincount(row_of_post, weights=mu * inv, minlength=n_rows)
    grad_theta = data.rows.T @ (per_row - hours_per_row * mu_rows)
    grad_alpha = decay * float((a * inv).sum()) - (len(t) - float(tail.sum()))
    grad_decay = alpha * float(((a + decay * b) * inv).sum()) - alpha * float((age * tail).sum())
    grad = np.concatenate([grad_theta, [alpha * grad_alpha, decay * grad_decay]])
    return value, grad


def log_likelihood_direct(x: np.ndarray, data: HawkesData) -> float:
    """The same log-likelihood by the O(n^2) double sum: the reference the recursion is
    checked against (tests and benchmarks)."""
    theta, alpha, decay = _unpack(x)
    t = data.times
    mu_posts = np.exp(data.rows @ theta)[data.row_of_post]
    total = 0.0
    for i in range(len(t)):
        excitation = np.exp(-decay * (t[i] - t[:i])).sum()
        total += np.log(mu_posts[i] + alpha * decay * excitation)
    compensator = (
        float(data.hours_per_row @ np.exp(data.rows @ theta))
        + alpha * (1.0 - np.exp(-decay * (data.horizon - t))).sum()
    )
    return float(total - compensator)


@dataclass(frozen=True)
class HawkesFit:
    theta: np.ndarray
    alpha: float
    decay: float
    log_likelihood: float
    iterations: int


def fit_hawkes(data: HawkesData, max_iterations: int = 200) -> HawkesFit:
    """Maximum likelihood by L-BFGS-B on (theta, log alpha, log delta)."""
    if len(data.times) < 10:
        raise ModelError(f"hawkes needs at least 10 posts to fit, got {len(data.times)}")
    alpha0, decay0 = 0.7, 10.0
    posts_per_row = np.bincount(data.row_of_post, minlength=len(data.rows))
    hour_cols = data.rows[:, :24]
    per_hour = (hour_cols.T @ posts_per_row) / np.maximum(hour_cols.T @ data.hours_per_row, 1.0)
    theta0 = np.zeros(data.rows.shape[1])
    theta0[:24] = np.log(np.maximum(per_hour * (1 - alpha0), 1e-3))
    x0 = np.concatenate([theta0, [np.log(alpha0), np.log(decay0)]])
    bounds = [(None, None)] * len(theta0) + [
        tuple(np.log(_ALPHA_BOUNDS)),
        tuple(np.log(_DECAY_BOUNDS)),
    ]

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = log_likelihood(x, data)
        return -value, -grad

    result = minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        # 30 stored corrections (default 10) roughly halve the iterations on ~30 parameters.
        options={"maxiter": max_iterations, "maxcor": 30},
    )
    theta, alpha, decay = _unpack(result.x)
    return HawkesFit(theta, alpha, decay, -float(result.fun), int(result.nit))


def simulate_paths(
    baseline: np.ndarray,
    alpha: float,
    decay: float,
    excitation0: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Ogata thinning for many paths at once.

    `baseline` is (n_paths, hours): each path's piecewise-constant baseline per hour;
    `excitation0` is each path's excitation intensity at time 0. Returns (path, time) of every
    accepted event, times in hours. The bound on [t, next hour) is the current intensity,
    valid because the excitation only decays between events and the baseline is constant.
    """
    n_paths, hours = baseline.shape
    flat = np.ascontiguousarray(baseline).ravel()
    ids = np.arange(n_paths)  # paths still running; t, x hold their time and excitation
    t = np.zeros(n_paths)
    x = np.asarray(excitation0, dtype="float64").copy()
    jump = alpha * decay
    paths: list[np.ndarray] = []
    times: list[np.ndarray] = []
    while ids.size:
        hour = t.astype("int64")
        mu = flat[ids * hours + hour]
        bound = mu + x
        uniforms = rng.random((2, ids.size))
        candidate = t - np.log1p(-uniforms[0]) / bound
        boundary = hour + 1.0
        crossed = candidate >= boundary
        new_t = np.minimum(candidate, boundary)
        x = x * np.exp(-decay * (new_t - t))
        accept = (uniforms[1] * bound <= mu + x) & ~crossed
        paths.append(ids[accept])
        times.append(candidate[accept])
        x += jump * accept
        t = new_t
        running = t < hours
        if not running.all():
            ids, t, x = ids[running], t[running], x[running]
    return np.concatenate(paths), np.concatenate(times)


def expected_counts(baseline: np.ndarray, alpha: float, decay: float, y0: float) -> np.ndarray:
    """Exact expected count per hour: E[excitation] y solves y' = -d(1-a) y + a d mu(t)."""
    kappa = decay * (1.0 - alpha)
    decay_hour = np.exp(-kappa)
    out = np.empty(len(baseline))
    y = y0
    for h, mu in enumerate(baseline):
        steady = alpha * mu / (1.0 - alpha)
        out[h] = mu + steady + (y - steady) * (1.0 - decay_hour) / kappa
        y = steady + (y - steady) * decay_hour
    return out


def recent_level_ratio(data: HawkesData, fit: HawkesFit, hours: float) -> float:
    """(posts + 1) / (fitted expected posts + 1) over the last `hours` of the window.

    The expected count is the exact compensator of the fitted intensity over that span; a
    ratio away from 1 means the level has moved since the bulk of the window, and the
    forecast baseline is rescaled by it (1 when `hours` is 0).
    """
    if hours <= 0:
        return 1.0
    start = max(data.horizon - hours, 0.0)
    first_hour = int(np.floor(start))
    mu_hours = np.exp(data.rows @ fit.theta)[data.row_of_hour]
    baseline = float(mu_hours[first_hour:].sum()) - float(mu_hours[first_hour]) * (
        start - first_hour
    )
    t = data.times
    lower = _exp_neg(fit.decay * np.maximum(start - t, 0.0))
    upper = _exp_neg(fit.decay * (data.horizon - t))
    expected = baseline + fit.alpha * float((lower - upper).sum())
    observed = int(np.count_nonzero(t >= start))
    return (observed + 1.0) / (expected + 1.0)


@dataclass(frozen=True)
class HawkesState:
    fit: HawkesFit
    end: datetime
    events: list[EventWindow]
    excitation_at_end: float
    trend: bool
    trend_scale_hours: int
    level_log_sd: float
    level_ratio: float


class HawkesModel(VolumeModel):
    """Self-exciting point process on exact post times.

    Assumes each post raises the chance of more posts soon after, by an exponentially
    decaying amount that is the same for every post (branching ratio alpha < 1, decay rate
    delta), on top of a baseline that depends only on hour of day, day of week, exogenous
    event intensity and (optionally) a log-linear trend, all fitted jointly by maximum
    likelihood (on the last `fit_days` only when it is positive). Forecasts simulate forward
    from the excitation left by the observed posts, so a burst in progress raises the next
    hours. Because the level drifts, the forecast baseline is rescaled by the observed /
    expected posts over the last `level_days`, and each path's baseline by a level factor
    (see level.py).
    """

    name = "hawkes"
    defaults: ClassVar[dict[str, Any]] = {
        "trend": False,
        "level_uncertainty": True,
        "level_days": 7.0,
        "fit_days": 0.0,
        "max_iterations": 200,
    }

    def _fit(self, history: History) -> HawkesState:
        trend = bool(self.params["trend"])
        fit_days = float(self.params["fit_days"])
        if fit_days > 0:
            history = history.last_days(fit_days)
        if history.hours < MIN_HISTORY_HOURS:
            raise ModelError(
                f"hawkes needs at least {MIN_HISTORY_HOURS} hours of history, got {history.hours}"
            )
        data = HawkesData.from_history(history, trend)
        fit = fit_hawkes(data, int(self.params["max_iterations"]))
        age = data.horizon - data.times
        excitation = fit.alpha * fit.decay * float(np.exp(-fit.decay * age).sum())
        level_sd = weekly_level_log_sd(history.counts) if self.params["level_uncertainty"] else 0.0
        ratio = recent_level_ratio(data, fit, float(self.params["level_days"]) * 24.0)
        return HawkesState(
            fit, history.end, history.events, excitation, trend, history.hours, level_sd, ratio
        )

    def baseline(self, horizon: int) -> np.ndarray:
        """Fitted baseline rate for each of the next `horizon` hours."""
        state: HawkesState = self.state_
        hours = pd.date_range(state.end, periods=horizon, freq="h", tz="UTC")
        design = _design(hours, state.events, state.end, state.trend, state.trend_scale_hours)
        return np.asarray(np.exp(design @ state.fit.theta)) * state.level_ratio

    def _predict(
        self, horizon: int, n_samples: int, rng: np.random.Generator
    ) -> PredictiveDistribution:
        state: HawkesState = self.state_
        fit = state.fit
        mu = self.baseline(horizon)
        per_path = mu[None, :] * level_factors(rng, n_samples, state.level_log_sd)
        start = np.full(n_samples, state.excitation_at_end)
        path, times = simulate_paths(per_path, fit.alpha, fit.decay, start, rng)
        cells = path * horizon + np.minimum(times.astype("int64"), horizon - 1)
        counts = np.bincount(cells, minlength=n_samples * horizon).reshape(n_samples, horizon)
        mean = expected_counts(mu, fit.alpha, fit.decay, state.excitation_at_end)
        return PredictiveDistribution(state.end, counts, mean=mean)
