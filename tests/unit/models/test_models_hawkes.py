"""Hawkes likelihood, gradient, estimation and simulation against independent checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from musktracker.models.base import History, ModelError
from musktracker.models.hawkes import (
    MIN_HISTORY_HOURS,
    HawkesData,
    HawkesModel,
    _design,
    excitation_sums,
    fit_hawkes,
    log_likelihood,
    log_likelihood_direct,
    simulate_paths,
)
from musktracker.models.history import history_from_posts

START = datetime(2026, 1, 5, tzinfo=UTC)


def _hourly_design(hours: int, trend: bool = False) -> np.ndarray:
    index = pd.date_range(START, periods=hours, freq="h", tz="UTC")
    return _design(index, [], START + timedelta(hours=hours), trend, hours)


def _point(data: HawkesData, alpha: float, decay: float, seed: int = 0) -> np.ndarray:
    theta = np.random.default_rng(seed).normal(0.0, 0.4, data.rows.shape[1])
    return np.concatenate([theta, [np.log(alpha), np.log(decay)]])


def test_recursive_likelihood_matches_brute_force(history_30d: History) -> None:
    data = HawkesData.from_history(history_30d, trend=True)
    for alpha, decay in [(0.3, 0.7), (0.8, 12.0), (0.95, 200.0)]:
        x = _point(data, alpha, decay)
        fast, _ = log_likelihood(x, data)
        assert fast == pytest.approx(log_likelihood_direct(x, data), rel=1e-10, abs=1e-8)


def test_gradient_matches_finite_differences(history_30d: History) -> None:
    sub = history_from_posts(
        pd.DatetimeIndex(pd.to_datetime(history_30d.post_times, unit="s", utc=True)),
        history_30d.end,
        5,
    )
    data = HawkesData.from_history(sub, trend=True)
    x = _point(data, 0.6, 8.0, seed=3)
    _, grad = log_likelihood(x, data)
    step = 1e-6
    numeric = np.array(
        [
            (log_likelihood(x + e, data)[0] - log_likelihood(x - e, data)[0]) / (2 * step)
            for e in np.eye(len(x)) * step
        ]
    )
    assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-4)


def test_excitation_sums_match_the_sequential_loop() -> None:
    times = np.array([0.0, 0.1, 0.1, 0.1, 0.5, 3.0, 3.0, 9.0])
    decay = 2.5
    a, b = excitation_sums(times, decay)
    for i, ti in enumerate(times):
        gaps = ti - times[:i]
        assert a[i] == pytest.approx(np.exp(-decay * gaps).sum(), abs=1e-12)
        assert b[i] == pytest.approx(-(gaps * np.exp(-decay * gaps)).sum(), abs=1e-12)


def test_tied_timestamps_keep_likelihood_finite_and_fit_working() -> None:
    rng = np.random.default_rng(7)
    hours = 200
    base = np.sort(rng.uniform(0, hours, 600))
    times = np.sort(np.concatenate([base, base[::3], base[::5]]))  # many exact ties
    data = HawkesData.build(times, _hourly_design(hours))
    x = _point(data, 0.5, 5.0)
    value, grad = log_likelihood(x, data)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(log_likelihood_direct(x, data), rel=1e-10)
    fit = fit_hawkes(data)
    assert np.isfinite(fit.log_likelihood) and 0 < fit.alpha < 1


def test_parameter_recovery_from_a_simulated_process() -> None:
    hours = 24 * 60
    design = _hourly_design(hours)
    rng = np.random.default_rng(11)
    theta = np.zeros(design.shape[1])
    theta[:24] = np.log(1.5 + np.sin(2 * np.pi * np.arange(24) / 24))
    alpha, decay = 0.6, 6.0
    baseline = np.exp(design @ theta)
    _, times = simulate_paths(baseline[None, :], alpha, decay, np.zeros(1), rng)
    fit = fit_hawkes(HawkesData.build(np.sort(times), design))
    assert fit.alpha == pytest.approx(alpha, abs=0.06)
    assert fit.decay == pytest.approx(decay, rel=0.25)
    recovered = fit.theta[:24]
    assert np.corrcoef(recovered, theta[:24])[0, 1] > 0.9


def test_simulation_mean_matches_the_analytic_mean(history_30d: History) -> None:
    model = HawkesModel(level_uncertainty=False).fit(history_30d)
    forecast = model.predict(24, n_samples=4000, seed=1)
    simulated = forecast.samples.mean(axis=0).sum()
    assert simulated == pytest.approx(forecast.mean.sum(), rel=0.05)


def test_a_burst_in_progress_raises_the_next_hours(history_30d: History) -> None:
    end = history_30d.end.timestamp()
    burst = end - np.linspace(600, 30, 40)  # 40 posts in the last ten minutes
    times = np.sort(np.concatenate([history_30d.post_times, burst]))
    counts = history_30d.counts.copy()
    counts.iloc[-1] += len(burst)
    bursting = History(counts, times, [], history_30d.end)
    calm = HawkesModel(level_uncertainty=False).fit(history_30d)
    hot = HawkesModel(level_uncertainty=False).fit(bursting)
    assert hot.state_.excitation_at_end > 10 * calm.state_.excitation_at_end
    assert hot.predict(2, seed=0).mean[0] > calm.predict(2, seed=0).mean[0] + 5


def test_less_than_a_week_of_history_is_refused_not_fitted(post_times: pd.DatetimeIndex) -> None:
    """Hours of day and weekdays have a coefficient each; before a whole week some
    (hour, weekday) pairs of the next days were never seen and their rate was unconstrained:
    on 4 days of a quiet account (every third post) the fit expected 1,162 posts in one hour
    of the next day, where it never posted more than 5 (on 3 days of a similar account, 7
    million, whose simulation took every byte of the machine's memory)."""
    quiet = post_times[::3] - pd.Timedelta(hours=3)
    as_of = datetime(2026, 2, 28, 21, tzinfo=UTC)
    four_days = history_from_posts(quiet, as_of, 4)
    with pytest.raises(ModelError, match="hawkes needs at least 168 hours of history, got 96"):
        HawkesModel().fit(four_days)
    with pytest.raises(ModelError, match="needs at least 168 hours"):  # fit_days cuts too
        HawkesModel(fit_days=4.0).fit(history_from_posts(quiet, as_of, 30))
    week = history_from_posts(quiet, as_of, MIN_HISTORY_HOURS / 24)
    model = HawkesModel().fit(week)
    assert model.baseline(7 * 24).max() <= 2 * week.counts.max()
