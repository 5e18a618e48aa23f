"""Ensemble weights come from past windows only and favour the better forecaster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from musktracker.evaluation.metrics import crps_samples
from musktracker.models.base import History, ModelError, PredictiveDistribution
from musktracker.models.ensemble import (
    SHARPNESS_GRID,
    EnsembleModel,
    best_sharpness,
    mixture,
    sharpened,
    sharpness_crps,
    walk_forward_sharpness,
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


def _wide_pool(start: datetime, seed: int) -> PredictiveDistribution:
    """Two calibrated-looking members whose means differ: their pool is over-dispersed."""
    low, high = _poisson(start, 3.0, seed), _poisson(start, 5.0, seed + 1)
    return mixture({"low": low, "high": high}, {"low": 0.5, "high": 0.5},
                   np.random.default_rng(seed))


def test_sharpened_keeps_whole_paths_and_narrows_the_total() -> None:
    pool = _wide_pool(T0, 0)
    rng = np.random.default_rng(3)
    assert sharpened(pool, 1.0, rng) is pool
    sharp = sharpened(pool, 2.0, rng)
    rows = {tuple(r) for r in pool.samples}
    assert all(tuple(r) in rows for r in sharp.samples)  # paths are the pool's own paths
    # G = B(F): the sharpened 2.5% and 97.5% totals are the pool's Beta(2, 2) quantiles
    inner = np.percentile(pool.total(), 100 * beta.ppf([0.025, 0.975], 2.0, 2.0))
    assert np.abs(np.percentile(sharp.total(), [2.5, 97.5]) - inner).max() <= 2
    assert np.ptp(inner) < 0.85 * np.ptp(np.percentile(pool.total(), [2.5, 97.5]))
    assert abs(np.median(sharp.total()) - np.median(pool.total())) <= 2
    wider = sharpened(pool, 0.8, rng)
    assert np.std(wider.total()) > np.std(pool.total())
    with pytest.raises(ModelError, match="sharpness must be positive, got 0"):
        sharpened(pool, 0.0, rng)


def test_sharpness_is_chosen_by_past_total_crps() -> None:
    # the truth sits between the members every day: sharpening the pool scores better
    pools = [_wide_pool(T0 + timedelta(days=k), 10 * k) for k in range(8)]
    actuals = [np.random.default_rng(k).poisson(4.0, 24) for k in range(8)]
    scores = np.array([sharpness_crps(f, y) for f, y in zip(pools, actuals, strict=True)])
    one = SHARPNESS_GRID.index(1.0)
    expected = crps_samples(pools[0].total()[:, None], [actuals[0].sum()])[0]
    assert scores[0, one] == pytest.approx(expected)
    assert best_sharpness(scores) > 1.0
    assert best_sharpness(scores[:4]) == 1.0  # too few windows to tell
    windows = [{"pool": f} for f in pools]
    chosen = walk_forward_sharpness(windows, scores)
    assert chosen[:5] == [1.0] * 5  # window k sees k past windows; 5 are needed
    assert chosen[5:] == [best_sharpness(scores[:k]) for k in (5, 6, 7)]
    assert chosen[7] > 1.0
    # a different actual in the last window changes nothing before it
    changed = scores.copy()
    changed[7] = changed[7][::-1]
    assert walk_forward_sharpness(windows, changed) == chosen


def test_ensemble_model_applies_and_checks_its_sharpness(history_30d: History) -> None:
    members = "hour_of_day_mean,seasonal_naive_daily"
    plain = EnsembleModel(members=members).fit(history_30d).predict(168, 400, seed=5)
    sharp = EnsembleModel(members=members, sharpness=3.0).fit(history_30d).predict(
        168, 400, seed=5
    )
    assert np.std(sharp.total()) < 0.8 * np.std(plain.total())
    with pytest.raises(ModelError, match=r"sharpness=-1\.0 must be a positive number"):
        EnsembleModel(members=members, sharpness=-1.0)
