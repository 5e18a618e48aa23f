"""Ensemble weights come from past windows only and favour the better forecaster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from musktracker.models.base import History, PredictiveDistribution
from musktracker.models.ensemble import (
    EnsembleModel,
    mixture,
    walk_forward_weights,
    weights_from_crps,
    weights_from_forecasts,
)
from musktracker.models.history import history_from_posts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _poisson(start: datetime, mean: float, seed: int) -> PredictiveDistribution:
    rng = np.random.default_rng(seed)
    return PredictiveDistribution(start, rng.poisson(mean, size=(400, 24)))


def _windows(
    actual_means: list[float],
) -> tuple[list[dict[str, PredictiveDistribution]], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    windows, actuals = [], []
    for k, truth in enumerate(actual_means):
        start = T0 + timedelta(days=k)
        windows.append({"good": _poisson(start, truth, k), "bad": _poisson(start, 3 * truth, k)})
        actuals.append(rng.poisson(truth, 24))
    return windows, actuals


def test_weights_favour_the_model_with_lower_past_crps() -> None:
    windows, actuals = _windows([4.0] * 5)
    weights = weights_from_forecasts(list(zip(windows, actuals, strict=True)))
    assert weights["good"] > 0.8 and abs(sum(weights.values()) - 1) < 1e-9
    by_score = weights_from_crps({"good": [1.0, 1.2], "bad": [2.0, 2.4]})
    assert by_score["good"] > by_score["bad"]


def test_walk_forward_weights_never_see_the_window_being_scored() -> None:
    windows, actuals = _windows([4.0, 4.0, 4.0, 4.0])
    first = walk_forward_weights(windows, actuals)
    assert first[0] == {"good": 0.5, "bad": 0.5}  # nothing in the past yet
    # Make window 2's actuals favour "bad": weights of windows 0..2 must not move.
    changed = [a.copy() for a in actuals]
    changed[2] = np.full(24, 12)
    second = walk_forward_weights(windows, changed)
    assert second[:3] == first[:3]
    assert second[3]["bad"] > first[3]["bad"]


def test_overlapping_windows_are_not_past() -> None:
    start = T0
    long = {"a": PredictiveDistribution(start, np.ones((10, 72), dtype=np.int64))}
    later = {"a": PredictiveDistribution(start + timedelta(days=1), np.ones((10, 72), "int64"))}
    weights = walk_forward_weights([long, later], [np.ones(72), np.ones(72)])
    assert weights[1] == {"a": 1.0}  # the first window's targets overlap: equal weights


def test_mixture_keeps_whole_paths_and_mixes_means() -> None:
    low = PredictiveDistribution(T0, np.zeros((300, 24), dtype=np.int64))
    high = PredictiveDistribution(T0, np.full((300, 24), 10, dtype=np.int64))
    mixed = mixture(
        {"low": low, "high": high}, {"low": 0.25, "high": 0.75}, np.random.default_rng(1)
    )
    assert set(np.unique(mixed.total())) == {0, 240}
    assert np.allclose(mixed.mean, 7.5)
    assert np.isfinite(mixed.log_pmf(np.full(24, 5))).all()


def test_ensemble_model_uses_given_weights(history_30d: History) -> None:
    model = EnsembleModel(
        members="hour_of_day_mean,seasonal_naive_daily",
        weights={"hour_of_day_mean": 1.0, "seasonal_naive_daily": 0.0},
    ).fit(history_30d)
    assert list(model.state_.members) == ["hour_of_day_mean"]
    forecast = model.predict(24, n_samples=200, seed=2)
    alone = model.state_.members["hour_of_day_mean"].predict(24, n_samples=200)
    assert np.allclose(forecast.mean, alone.mean)


def test_ensemble_leaves_out_members_that_cannot_fit(post_times: pd.DatetimeIndex) -> None:
    short = history_from_posts(post_times, datetime(2026, 2, 1, tzinfo=UTC), 4)
    model = EnsembleModel(members="negative_binomial,hour_of_day_mean").fit(short)
    assert list(model.state_.members) == ["hour_of_day_mean"]
    assert "negative_binomial needs at least" in model.state_.skipped[0]
    assert model.predict(24, n_samples=100, seed=0).samples.shape == (100, 24)
