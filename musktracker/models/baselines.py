"""Honest baselines: seasonal naive (daily, weekly) and the hour-of-day mean.

Each turns a point forecast into a negative binomial predictive distribution whose
dispersion is fitted by maximum likelihood to the baseline's own one-step errors on the
training history, times a per-path level factor (see `level.py`) so window totals are not
over-confident.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from musktracker.models.base import History, ModelError, PredictiveDistribution, VolumeModel
from musktracker.models.distributions import fit_nb_dispersion, nb_log_pmf, nb_sample
from musktracker.models.level import level_factors, weekly_level_log_sd

_DAY = 24
_WEEK = 168


@dataclass(frozen=True)
class PatternState:
    """A repeating pattern of hourly means starting at `start`, with its noise model."""

    start: datetime
    pattern: np.ndarray
    dispersion: float
    level_log_sd: float


class _PatternBaseline(VolumeModel):
    """A baseline whose forecast repeats a pattern of hourly means (index h mod len)."""

    defaults: ClassVar[dict[str, Any]] = {"min_mean": 0.2, "level_uncertainty": True}

    @abstractmethod
    def _pattern(self, y: np.ndarray, history: History) -> tuple[np.ndarray, np.ndarray]:
        """(future pattern, in-sample one-step means aligned to the last len(means) hours)."""

    def _fit(self, history: History) -> PatternState:
        y = history.counts.to_numpy(dtype="float64")
        pattern, fitted = self._pattern(y, history)
        floor = float(self.params["min_mean"])
        dispersion = fit_nb_dispersion(y[len(y) - len(fitted) :], np.maximum(fitted, floor))
        level_sd = weekly_level_log_sd(history.counts) if self.params["level_uncertainty"] else 0.0
        return PatternState(history.end, np.maximum(pattern, floor), dispersion, level_sd)

    def _predict(
        self, horizon: int, n_samples: int, rng: np.random.Generator
    ) -> PredictiveDistribution:
        state: PatternState = self.state_
        mean = np.resize(state.pattern, horizon)
        paths = nb_sample(
            rng, mean[None, :] * level_factors(rng, n_samples, state.level_log_sd), state.dispersion
        )
        return PredictiveDistribution(
            state.start,
            paths,
            mean=mean,
            marginal_log_pmf=lambda k: nb_log_pmf(k, mean, state.dispersion),
        )


class _SeasonalNaive(_PatternBaseline):
    period: int

    def _pattern(self, y: np.ndarray, history: History) -> tuple[np.ndarray, np.ndarray]:
        if len(y) < 2 * self.period:
            raise ModelError(
                f"{self.name} needs at least {2 * self.period} hours of history, got {len(y)}"
            )
        return y[-self.period :], y[: -self.period]


class SeasonalNaiveDaily(_SeasonalNaive):
    """Tomorrow's hour h repeats today's hour h.

    Assumes the daily cycle and the current level persist for the horizon; hour-level noise
    is negative binomial around the repeated count (dispersion fitted to 24-hour-lag errors).
    """

    name = "seasonal_naive_daily"
    period = _DAY


class SeasonalNaiveWeekly(_SeasonalNaive):
    """Next week's hour h repeats the same hour one week earlier.

    Assumes the weekly cycle (weekday and hour) persists; NB noise fitted to 168-hour-lag
    errors.
    """

    name = "seasonal_naive_weekly"
    period = _WEEK


class HourOfDayMean(_PatternBaseline):
    """Mean count of each hour of the day over the training window, rescaled to the level of
    the last `level_days` days (0 turns level tracking off).

    Assumes a stable daily shape whose overall level may drift; counts NB around the mean.
    """

    name = "hour_of_day_mean"
    defaults: ClassVar[dict[str, Any]] = {**_PatternBaseline.defaults, "level_days": 7.0}

    def _pattern(self, y: np.ndarray, history: History) -> tuple[np.ndarray, np.ndarray]:
        if len(y) < 2 * _DAY:
            raise ModelError(f"{self.name} needs at least 48 hours of history, got {len(y)}")
        hours = pd.DatetimeIndex(history.counts.index).hour.to_numpy()
        sums = np.bincount(hours, weights=y, minlength=_DAY)
        profile = sums / np.maximum(np.bincount(hours, minlength=_DAY), 1)
        overall = max(float(y.mean()), 1e-9)
        window = round(float(self.params["level_days"]) * _DAY)
        if window <= 0 or window >= len(y):
            level = np.ones(len(y))
            recent_level = 1.0
        else:
            trailing = np.convolve(y, np.ones(window) / window)[: len(y)]
            level = np.concatenate([[np.nan], trailing[:-1]]) / overall
            level[:window] = np.nan
            recent_level = float(y[-window:].mean()) / overall
        fitted = profile[hours] * level
        keep = ~np.isnan(fitted)
        first = int(np.argmax(keep))
        future_hours = (np.arange(_DAY) + history.end.hour) % _DAY
        return profile[future_hours] * recent_level, fitted[first:]
