"""SARIMAX on variance-stabilised hourly counts, turned into a count distribution.

z_t = sqrt(y_t + 3/8) (Anscombe) makes Poisson-like noise roughly constant in variance, so a
Gaussian model is reasonable on that scale. z_t follows a regression on daily harmonics
(the daily seasonality; a seasonal AR at lag 24 costs several times the fit time for no
better forecasts), weekend and event intensity, with ARMA(p, 0, q) errors, fitted by
statsmodels' exact Kalman-filter likelihood on the most recent `fit_days` only (the level
drifts, and the fit stays well under a second).

Forecast paths are drawn jointly: Gaussian errors are combined through the model's MA(inf)
weights psi, so hour-to-hour correlation (and hence window totals) is right. Each draw is
mapped back as y = round(max(z, 0)^2 - 3/8), floored at 0, so counts are integers and never
negative; the marginal pmf of that map is exact from the Gaussian CDF. Each path also carries
the level factor of `level.py` (the ARMA reverts to the window's mean, but the level drifts),
and the marginal pmf averages over that factor by quadrature.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, logsumexp
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.arima_process import arma2ma
from statsmodels.tsa.statespace.sarimax import SARIMAX

from musktracker.features.build import EventWindow, compute_features
from musktracker.models.base import History, ModelError, PredictiveDistribution, VolumeModel
from musktracker.models.level import level_factors, level_quantiles, weekly_level_log_sd

_ANSCOMBE = 3.0 / 8.0
_HARMONICS = 3
_DAY = 24


def exogenous(times: pd.DatetimeIndex, events: list[EventWindow]) -> np.ndarray:
    """Daily harmonics, weekend flag and event intensity for each hour."""
    angle = 2 * np.pi * times.hour.to_numpy() / _DAY
    columns = [f(k * angle) for k in range(1, _HARMONICS + 1) for f in (np.sin, np.cos)]
    columns.append((times.day_of_week.to_numpy() >= 5).astype("float64"))
    if events:
        empty = pd.Series(dtype="int64", index=pd.DatetimeIndex([], tz="UTC"))
        columns.append(compute_features(empty, events, times)["event_intensity"].to_numpy())
    return np.column_stack(columns).astype("float64")


def to_counts(z: np.ndarray) -> np.ndarray:
    """Back-transform from the Anscombe scale to non-negative integer counts."""
    return np.asarray(np.maximum(np.rint(np.maximum(z, 0.0) ** 2 - _ANSCOMBE), 0), dtype="int64")


def count_log_pmf(k: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """log P(to_counts(Z) = k) for Z ~ N(mean, sd^2), elementwise, never -inf."""
    k = np.asarray(k, dtype="float64")
    upper = (np.sqrt(k + 0.5 + _ANSCOMBE) - mean) / sd
    lower = (np.sqrt(np.maximum(k - 0.5 + _ANSCOMBE, 0.0)) - mean) / sd
    log_upper = log_ndtr(upper)
    log_lower = np.where(k > 0, log_ndtr(lower), -np.inf)
    # log(Phi(u) - Phi(l)) computed stably; the floor keeps far tails finite.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = log_upper + np.log1p(-np.exp(log_lower - log_upper))
    return np.asarray(np.maximum(np.nan_to_num(out, nan=-1e4, neginf=-1e4), -1e4))


@dataclass(frozen=True)
class SarimaxState:
    results: Any  # statsmodels SARIMAXResults: forecasts continue its Kalman state
    end: datetime
    events: list[EventWindow]
    level_log_sd: float


class SarimaxModel(VolumeModel):
    """Gaussian ARMA errors around daily harmonics on the sqrt scale, mapped back to counts.

    Assumes the variance-stabilised series is Gaussian with ARMA(p, q) dependence around a
    fixed daily shape and weekend/event effects over the last `fit_days`; counts come from
    rounding the back-transform. Parameter uncertainty is ignored, so it leans on the
    short fit window to stay close to the current level.
    """

    name = "sarimax"
    defaults: ClassVar[dict[str, Any]] = {
        "p": 1,
        "q": 1,
        "fit_days": 14.0,
        "max_iterations": 50,
        "level_uncertainty": True,
    }

    def _fit(self, history: History) -> SarimaxState:
        counts = history.last_days(float(self.params["fit_days"])).counts
        if len(counts) < 3 * _DAY:
            raise ModelError(f"{self.name} needs at least 72 hours of history, got {len(counts)}")
        z = np.sqrt(counts.to_numpy(dtype="float64") + _ANSCOMBE)
        x = exogenous(pd.DatetimeIndex(counts.index), history.events)
        model = SARIMAX(
            z, exog=x, order=(int(self.params["p"]), 0, int(self.params["q"])), trend="c"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, UserWarning, RuntimeWarning))
            results = model.fit(disp=False, maxiter=int(self.params["max_iterations"]))
        level_sd = weekly_level_log_sd(history.counts) if self.params["level_uncertainty"] else 0.0
        return SarimaxState(results, history.end, history.events, level_sd)

    def _predict(
        self, horizon: int, n_samples: int, rng: np.random.Generator
    ) -> PredictiveDistribution:
        state: SarimaxState = self.state_
        times = pd.date_range(state.end, periods=horizon, freq="h", tz="UTC")
        results = state.results
        forecast = results.get_forecast(horizon, exog=exogenous(times, state.events))
        mean = np.asarray(forecast.predicted_mean)
        sd = np.sqrt(np.asarray(forecast.var_pred_mean))
        psi = arma2ma(results.polynomial_ar, results.polynomial_ma, lags=horizon)
        # Lower-triangular Toeplitz: error at h = sum_j psi_j * innovation at h - j.
        index = np.arange(horizon)
        lag = index[:, None] - index[None, :]
        weights = np.where(lag >= 0, psi[np.clip(lag, 0, None)], 0.0)
        weights *= (sd / np.sqrt((weights**2).sum(axis=1)))[:, None]
        innovations = rng.standard_normal((n_samples, horizon))
        # A level factor L multiplies counts, hence sqrt(L) multiplies the sqrt-scale path.
        scale = np.sqrt(level_factors(rng, n_samples, state.level_log_sd))
        paths = to_counts((mean[None, :] + innovations @ weights.T) * scale)
        quadrature = np.sqrt(level_quantiles(state.level_log_sd))[:, None]

        def log_pmf(k: np.ndarray) -> np.ndarray:
            parts = count_log_pmf(k[None, :], mean * quadrature, sd * quadrature)
            return np.asarray(logsumexp(parts, axis=0) - np.log(len(quadrature)))

        return PredictiveDistribution(state.end, paths, marginal_log_pmf=log_pmf)
