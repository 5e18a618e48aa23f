"""The one interface every volume model follows, and the objects that cross it.

Shaped like scikit-learn: hyperparameters go into the constructor, `fit(history)` stores the
fitted state in `state_`, `predict(horizon)` returns joint sample paths of future hourly counts
(a `PredictiveDistribution`), from which intervals, window totals and bracket probabilities all
come, so they can never disagree with one another.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from musktracker.atomicfile import atomic_writer
from musktracker.features.build import EventWindow
from musktracker.models.distributions import smoothed_sample_log_pmf
from musktracker.utc import HOUR, ensure_utc

ARTIFACT_FORMAT = "musktracker-volume-model/1"


class ModelError(ValueError):
    """A model was given input it cannot work with; the message names the field and value."""


class NotFittedError(ModelError):
    """`predict` or `save` was called before `fit`."""


@dataclass(frozen=True)
class History:
    """What a model may know at the as-of time `end`: nothing at or after `end`.

    `counts` is the dense hourly count series (index = UTC bucket starts, last bucket ends at
    `end`); `post_times` are the exact post times (float seconds since the Unix epoch, sorted,
    ties allowed) of the same posts; `events` are the account's exogenous event windows.
    """

    counts: pd.Series
    post_times: np.ndarray
    events: list[EventWindow]
    end: datetime

    def __post_init__(self) -> None:
        end = ensure_utc(self.end, "history end")
        if end != end.replace(minute=0, second=0, microsecond=0):
            raise ModelError(f"history end {end.isoformat()} is not on an hour boundary")
        index = self.counts.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise ModelError("history counts must be indexed by tz-aware UTC bucket starts")
        if len(index) == 0:
            raise ModelError(f"history before {end.isoformat()} has no hourly buckets")
        if index[-1] + HOUR != end:
            raise ModelError(
                f"history counts end at {index[-1].isoformat()}, expected the bucket before "
                f"{end.isoformat()}"
            )
        if len(index) != (end - index[0].to_pydatetime()) // HOUR:
            raise ModelError("history counts must be dense (one bucket per hour, no gaps)")
        times = self.post_times
        if times.ndim != 1 or (len(times) and np.any(np.diff(times) < 0)):
            raise ModelError("history post_times must be a sorted 1-d array")
        if len(times) and times[-1] >= end.timestamp():
            raise ModelError("history post_times must all be before the history end")

    @property
    def start(self) -> datetime:
        """Start of the first hourly bucket."""
        first: datetime = self.counts.index[0].to_pydatetime()
        return first

    @property
    def hours(self) -> int:
        return len(self.counts)

    def last_days(self, days: float) -> History:
        """The same history cut to its last `days` days (whole hours)."""
        hours = round(days * 24)
        if hours <= 0 or hours >= len(self.counts):
            return self
        counts = self.counts.iloc[-hours:]
        first = counts.index[0].timestamp()
        times = self.post_times[np.searchsorted(self.post_times, first) :]
        return History(counts, times, self.events, self.end)


class PredictiveDistribution:
    """Joint sample paths of future hourly counts: one object gives intervals, window totals,
    brackets. Rows of `samples` are paths, columns are the hours starting at `start`.

    A model may supply an analytic mean and analytic per-hour marginal log pmf; otherwise both
    come from the samples.
    """

    def __init__(
        self,
        start: datetime,
        samples: np.ndarray,
        mean: np.ndarray | None = None,
        marginal_log_pmf: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        samples = np.asarray(samples)
        if samples.ndim != 2 or samples.shape[0] < 1 or samples.shape[1] < 1:
            raise ModelError(f"samples must have shape (n_samples, horizon), got {samples.shape}")
        if np.any(samples < 0):
            raise ModelError("sampled counts must not be negative")
        self.start = ensure_utc(start, "forecast start")
        self.samples = samples.astype("int64", copy=False)
        if mean is not None and np.shape(mean) != (samples.shape[1],):
            raise ModelError(f"mean must have shape ({samples.shape[1]},), got {np.shape(mean)}")
        self._mean = None if mean is None else np.asarray(mean, dtype="float64")
        self._marginal_log_pmf = marginal_log_pmf

    @property
    def horizon(self) -> int:
        return int(self.samples.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def mean(self) -> np.ndarray:
        """Expected count per hour (analytic where the model has it)."""
        if self._mean is not None:
            return self._mean
        return np.asarray(self.samples.mean(axis=0))

    @property
    def target_times(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.horizon, freq="h", tz="UTC")

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        """Per-hour quantiles (smallest k with P(count <= k) >= level); (len(levels), horizon)."""
        levels_arr = np.asarray(levels, dtype="float64")
        if np.any((levels_arr <= 0) | (levels_arr >= 1)):
            raise ModelError(f"quantile levels must be in (0, 1), got {list(levels)}")
        return np.asarray(np.quantile(self.samples, levels_arr, axis=0, method="inverted_cdf"))

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central interval: the (1-level)/2 and (1+level)/2 quantiles per hour."""
        if not 0 < level < 1:
            raise ModelError(f"interval level must be in (0, 1), got {level}")
        lo, hi = self.quantiles([(1 - level) / 2, (1 + level) / 2])
        return lo, hi

    def total(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples of the total count over hours [start, stop) (indices into the horizon)."""
        stop = self.horizon if stop is None else stop
        if not 0 <= start < stop <= self.horizon:
            raise ModelError(f"hour range [{start}, {stop}) is outside the horizon {self.horizon}")
        return np.asarray(self.samples[:, start:stop].sum(axis=1))

    def log_pmf(self, observed: np.ndarray) -> np.ndarray:
        """Per-hour log P(count = observed); never -inf."""
        observed = np.asarray(observed)
        if observed.shape != (self.horizon,):
            raise ModelError(f"observed must have shape ({self.horizon},), got {observed.shape}")
        if self._marginal_log_pmf is not None:
            return self._marginal_log_pmf(observed)
        return smoothed_sample_log_pmf(self.samples, observed)


def single_threaded_blas() -> threadpool_limits:
    """Models make many tiny BLAS calls (optimiser steps, small matrices); on a busy 2-core
    machine OpenBLAS threads spin up for each and make a 0.1 s fit take over 1 s. Backtests
    run windows in parallel processes instead."""
    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class _Artifact:
    format: str
    model: str
    params: dict[str, Any]
    state: Any = field(default=None)


class VolumeModel(ABC):
    """Base of every volume model.

    Subclasses declare `name` and `defaults` (every hyperparameter with its default value,
    whose type is the accepted type) and implement `_fit` and `_predict`.
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **hyperparameters: Any) -> None:
        params = dict(self.defaults)
        for key, value in hyperparameters.items():
            if key not in self.defaults:
                valid = ", ".join(sorted(self.defaults)) or "none"
                raise ModelError(f"{self.name}: unknown hyperparameter {key!r} (valid: {valid})")
            params[key] = _coerce(self.name, key, value, self.defaults[key])
        self.params = params
        self.state_: Any = None

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def fit(self, history: History) -> Self:
        with single_threaded_blas():
            self.state_ = self._fit(history)
        return self

    def predict(
        self, horizon: int, n_samples: int = 1000, seed: int | None = None
    ) -> PredictiveDistribution:
        """Distribution of the next `horizon` hourly counts after the history's end."""
        if self.state_ is None:
            raise NotFittedError(f"{self.name}: call fit() before predict()")
        if horizon < 1:
            raise ModelError(f"horizon must be at least 1 hour, got {horizon}")
        if n_samples < 1:
            raise ModelError(f"n_samples must be at least 1, got {n_samples}")
        with single_threaded_blas():
            return self._predict(horizon, n_samples, np.random.default_rng(seed))

    @abstractmethod
    def _fit(self, history: History) -> Any:
        """Return the fitted state (anything picklable) from a history."""

    @abstractmethod
    def _predict(
        self, horizon: int, n_samples: int, rng: np.random.Generator
    ) -> PredictiveDistribution:
        """Forecast from `self.state_`."""

    def save(self, path: Path) -> None:
        """Write hyperparameters and fitted state to `path` (a trusted local artifact), whole
        or not at all: a process killed while writing left a truncated file that the
        model_metadata rows naming it pointed at, and a forecast loading it failed."""
        if self.state_ is None:
            raise NotFittedError(f"{self.name}: call fit() before save()")
        artifact = _Artifact(ARTIFACT_FORMAT, self.name, self.get_params(), self.state_)
        with atomic_writer(path) as fh:
            pickle.dump(artifact, fh, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an artifact written by `save` of this model class."""
        with path.open("rb") as fh:
            artifact = pickle.load(fh)
        if not isinstance(artifact, _Artifact) or artifact.format != ARTIFACT_FORMAT:
            raise ModelError(f"{path} is not a MuskTracker model artifact")
        if artifact.model != cls.name:
            raise ModelError(f"{path} holds a {artifact.model!r} model, not {cls.name!r}")
        model = cls(**artifact.params)
        model.state_ = artifact.state
        return model


def _coerce(model: str, key: str, value: Any, default: Any) -> Any:
    """Check a hyperparameter against its default's type (ints are accepted for floats)."""
    expected = type(default)
    is_bool_for_number = isinstance(value, bool) and expected is not bool
    if default is None or (isinstance(value, expected) and not is_bool_for_number):
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise ModelError(f"{model}: hyperparameter {key}={value!r} must be {expected.__name__}")
