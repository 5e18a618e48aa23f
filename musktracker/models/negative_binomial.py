"""Negative binomial (NB2) GLM on lagged counts, rolling levels, calendar and events.

log E[y_t] = beta . x_t, Var[y_t] = m + a m^2, with x_t built from the features of
`features.build.compute_features` (so training rows and stored features agree):
the log of the trailing 7-day mean as an offset (coefficient fixed at 1, so the forecast
tracks the level, which drifts by tens of percent a month), log ratios of the 1 h and 24 h lags
and of the 24 h mean to that level, hour-of-day harmonics, weekend and event intensity.
Coefficients are fitted by statsmodels' GLM (IRLS) for a given dispersion a, and a by maximum
likelihood given the fitted means, alternating until a settles: a GLM whose dispersion is
estimated.

Forecasts simulate forward: each path draws hour h, and that draw becomes the lag and
enters the rolling means for the hours after it, so future lags are never pretended known.
Each path also draws its own coefficients from the estimate's asymptotic normal distribution,
so parameter uncertainty widens the intervals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from musktracker.features.build import EventWindow, compute_features
from musktracker.models.base import History, ModelError, PredictiveDistribution, VolumeModel
from musktracker.models.distributions import fit_nb_dispersion, nb_sample

_WEEK = 168
_DAY = 24
_DISPERSION_ROUNDS = 3
_LEVEL_FLOOR = 0.05


def level_offset(mean_7d: np.ndarray) -> np.ndarray:
    """log of the trailing 7-day mean: the GLM offset that makes forecasts track the level."""
    return np.asarray(np.log(np.maximum(mean_7d, _LEVEL_FLOOR)))


def regressors(
    lag_1h: np.ndarray,
    lag_24h: np.ndarray,
    mean_24h: np.ndarray,
    mean_7d: np.ndarray,
    hour_of_day: np.ndarray,
    weekend: np.ndarray,
    event_intensity: np.ndarray,
    harmonics: int,
) -> np.ndarray:
    """The GLM's regressor columns (last axis) from raw features of any common shape.

    Lags and the 24-hour mean enter relative to the 7-day level (log ratios), so their
    coefficients describe bursts and daily swings, not the level itself.
    """
    level = np.log1p(mean_7d)
    angle = 2 * np.pi * np.asarray(hour_of_day, dtype="float64") / _DAY
    columns = [
        np.ones_like(angle),
        np.log1p(lag_1h) - level,
        np.log1p(lag_24h) - level,
        np.log1p(mean_24h) - level,
    ]
    for k in range(1, harmonics + 1):
        columns += [np.sin(k * angle), np.cos(k * angle)]
    columns += [np.asarray(weekend, dtype="float64"), np.asarray(event_intensity)]
    return np.stack(np.broadcast_arrays(*columns), axis=-1).astype("float64")


def _calendar(times: pd.DatetimeIndex, events: list[EventWindow]) -> pd.DataFrame:
    empty = pd.Series(dtype="int64", index=pd.DatetimeIndex([], tz="UTC"))
    return compute_features(empty, events, times)


def training_data(
    history: History, harmonics: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(counts, regressors, offset, mask of regressors kept) for every hour with a full week
    of history before it; regressors constant over the window (no events, say) are dropped."""
    counts = history.counts
    if len(counts) < _WEEK + _DAY:
        raise ModelError(
            f"negative_binomial needs at least {_WEEK + _DAY} hours of history, got {len(counts)}"
        )
    times = pd.DatetimeIndex(counts.index)[_WEEK:]
    frame = compute_features(counts, history.events, times)
    mean_7d = frame["rolling_mean_7d"].to_numpy()
    x = regressors(
        frame["lag_1h"].to_numpy(),
        frame["lag_24h"].to_numpy(),
        frame["rolling_mean_24h"].to_numpy(),
        mean_7d,
        frame["hour_of_day"].to_numpy(),
        frame["is_weekend"].to_numpy(),
        frame["event_intensity"].to_numpy(),
        harmonics,
    )
    used = np.ptp(x, axis=0) > 1e-9
    used[0] = True  # the intercept
    y = counts.to_numpy(dtype="float64")[_WEEK:]
    return y, x[:, used], level_offset(mean_7d), used


@dataclass(frozen=True)
class NegativeBinomialState:
    coefficients: np.ndarray
    used_columns: np.ndarray  # regressors that vary in training (constant ones are dropped)
    covariance: np.ndarray
    dispersion: float
    recent: np.ndarray  # the last 168 observed hourly counts, oldest first
    end: datetime
    events: list[EventWindow]
    log_likelihood: float


def fit_nb_glm(
    y: np.ndarray, x: np.ndarray, offset: np.ndarray, max_rounds: int = _DISPERSION_ROUNDS
) -> tuple[Any, float]:
    """Alternate a statsmodels NB2 GLM fit for fixed dispersion with the ML dispersion
    given its means; returns (GLM results, dispersion)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, HessianInversionWarning))
        results = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset).fit()
        dispersion = fit_nb_dispersion(y, results.mu)
        for _ in range(max_rounds):
            family = sm.families.NegativeBinomial(alpha=max(dispersion, 1e-8))
            results = sm.GLM(y, x, family=family, offset=offset).fit(start_params=results.params)
            updated = fit_nb_dispersion(y, results.mu)
            settled = abs(updated - dispersion) < 1e-3 * max(dispersion, 1e-3)
            dispersion = updated
            if settled:
                break
    return results, dispersion


class NegativeBinomialModel(VolumeModel):
    """NB2 GLM with a log link on lags, rolling levels, calendar, events and trend.

    Assumes the log mean of the next hour is linear in those regressors and the count is
    negative binomial around it (variance m + a m^2, a estimated), with no dependence left
    once the lags are known. Needs at least 7 days + 1 day of history (the 7-day lag).
    """

    name = "negative_binomial"
    defaults: ClassVar[dict[str, Any]] = {"parameter_uncertainty": False, "harmonics": 3}

    def _fit(self, history: History) -> NegativeBinomialState:
        counts = history.counts
        y, x, offset, used = training_data(history, int(self.params["harmonics"]))
        results, dispersion = fit_nb_glm(y, x, offset)
        covariance = np.asarray(results.cov_params())
        if not np.all(np.isfinite(covariance)):
            covariance = np.zeros_like(covariance)
        return NegativeBinomialState(
            coefficients=np.asarray(results.params),
            used_columns=used,
            covariance=covariance,
            dispersion=dispersion,
            recent=counts.to_numpy(dtype="float64")[-_WEEK:],
            end=history.end,
            events=history.events,
            log_likelihood=float(results.llf),
        )

    def _coefficient_draws(
        self, state: NegativeBinomialState, n_samples: int, rng: np.random.Generator
    ) -> np.ndarray:
        if not self.params["parameter_uncertainty"]:
            return np.broadcast_to(state.coefficients, (n_samples, len(state.coefficients)))
        return rng.multivariate_normal(
            state.coefficients, state.covariance, size=n_samples, method="eigh"
        )

    def _predict(
        self, horizon: int, n_samples: int, rng: np.random.Generator
    ) -> PredictiveDistribution:
        state: NegativeBinomialState = self.state_
        times = pd.date_range(state.end, periods=horizon, freq="h", tz="UTC")
        calendar = _calendar(times, state.events)
        beta = self._coefficient_draws(state, n_samples, rng)
        # Column j of `path` is hour j - 168 relative to the first forecast hour.
        path = np.empty((n_samples, _WEEK + horizon))
        path[:, :_WEEK] = state.recent
        sum_24 = path[:, _WEEK - _DAY : _WEEK].sum(axis=1)
        sum_7d = path[:, :_WEEK].sum(axis=1)
        hours = calendar["hour_of_day"].to_numpy()
        weekend = calendar["is_weekend"].to_numpy()
        events = calendar["event_intensity"].to_numpy()
        for h in range(horizon):
            now = _WEEK + h
            x = regressors(
                path[:, now - 1],
                path[:, now - _DAY],
                sum_24 / _DAY,
                sum_7d / _WEEK,
                hours[h],
                weekend[h],
                events[h],
                int(self.params["harmonics"]),
            )[:, state.used_columns]
            log_mean = np.einsum("ij,ij->i", x, beta) + level_offset(sum_7d / _WEEK)
            mean = np.exp(np.clip(log_mean, -20.0, 10.0))
            path[:, now] = nb_sample(rng, mean, state.dispersion)
            sum_24 += path[:, now] - path[:, now - _DAY]
            sum_7d += path[:, now] - path[:, now - _WEEK]
        return PredictiveDistribution(state.end, path[:, _WEEK:].astype("int64"))
