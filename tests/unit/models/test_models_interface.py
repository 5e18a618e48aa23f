"""Every registered model fits real posts and returns a sane predictive distribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musktracker.features.build import EventWindow
from musktracker.models.base import History, ModelError, NotFittedError, PredictiveDistribution
from musktracker.models.history import history_from_posts
from musktracker.models.registry import (
    UnknownModelError,
    create_model,
    load_model,
    model_names,
)

FAST_ENSEMBLE: dict[str, object] = {"members": "hour_of_day_mean,seasonal_naive_weekly"}


def _hyperparameters(name: str) -> dict[str, object]:
    return FAST_ENSEMBLE if name == "ensemble" else {}


@pytest.mark.parametrize("name", model_names())
def test_model_gives_a_sane_predictive_distribution(name: str, history_30d: History) -> None:
    model = create_model(name, **_hyperparameters(name)).fit(history_30d)
    forecast = model.predict(48, n_samples=500, seed=3)
    assert forecast.samples.shape == (500, 48)
    assert forecast.samples.dtype == np.int64 and forecast.samples.min() >= 0
    assert forecast.start == history_30d.end
    assert forecast.target_times[0] == history_30d.end
    levels = [0.025, 0.1, 0.5, 0.9, 0.975]
    quantiles = forecast.quantiles(levels)
    assert quantiles.shape == (5, 48)
    assert np.all(np.diff(quantiles, axis=0) >= 0)
    recent_level = history_30d.counts.iloc[-7 * 24 :].mean()
    assert 0.4 * recent_level < forecast.mean.mean() < 2.5 * recent_level
    log_pmf = forecast.log_pmf(np.array([0, 3, 500] * 16))
    assert np.all(np.isfinite(log_pmf)) and np.all(log_pmf <= 0)
    assert forecast.total().shape == (500,)


@pytest.mark.parametrize("name", model_names())
def test_save_and_load_round_trip(name: str, history_30d: History, tmp_path: Path) -> None:
    model = create_model(name, **_hyperparameters(name)).fit(history_30d)
    path = tmp_path / name / "model.pkl"
    model.save(path)
    loaded = load_model(name, path)
    assert loaded.get_params() == model.get_params()
    before = model.predict(24, n_samples=200, seed=9).samples
    after = loaded.predict(24, n_samples=200, seed=9).samples
    assert np.array_equal(before, after)


@pytest.mark.parametrize("name", model_names())
def test_a_new_accounts_first_hours_are_refused_with_a_model_error(
    name: str, post_times: pd.DatetimeIndex
) -> None:
    """An account tracked since this morning has no complete day yet: every model (and the
    ensemble, which catches its members' ModelErrors) says how much history it needs. Hawkes
    raised numpy's "ValueError: a cannot be empty" instead, a traceback in `forecast`."""
    history = history_from_posts(post_times, datetime(2026, 2, 26, 21, tzinfo=UTC), 20 / 24)
    assert history.hours == 20
    with pytest.raises(ModelError, match=r"needs at least|no member could be fitted"):
        create_model(name).fit(history)


def test_load_refuses_another_models_artifact(history_30d: History, tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    create_model("hour_of_day_mean").fit(history_30d).save(path)
    with pytest.raises(ModelError, match="holds a 'hour_of_day_mean' model"):
        load_model("hawkes", path)


def test_unknown_model_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'prophet' \(valid: .*hawkes"):
        create_model("prophet")
    assert isinstance(UnknownModelError("x"), ValueError)


def test_bad_hyperparameters_are_named() -> None:
    with pytest.raises(ModelError, match="unknown hyperparameter 'decay'"):
        create_model("hawkes", decay=3.0)
    with pytest.raises(ModelError, match="fit_days='two' must be float"):
        create_model("sarimax", fit_days="two")
    with pytest.raises(ModelError, match="bad names"):
        create_model("ensemble", members="hawkes,prophet")


def test_predict_before_fit_and_bad_horizon() -> None:
    model = create_model("hawkes")
    with pytest.raises(NotFittedError):
        model.predict(24)
    assert model.state_ is None and model.get_params()["trend"] is False


def test_predictive_distribution_summaries() -> None:
    samples = np.array([[0, 1, 5], [2, 1, 5], [4, 1, 6], [6, 1, 7]])
    dist = PredictiveDistribution(datetime(2026, 1, 1, tzinfo=UTC), samples)
    assert np.allclose(dist.mean, [3.0, 1.0, 5.75])
    assert np.array_equal(dist.quantiles([0.5])[0], [2, 1, 5])
    lo, hi = dist.interval(0.5)
    assert np.array_equal(lo, [0, 1, 5]) and np.array_equal(hi, [4, 1, 6])
    assert np.array_equal(dist.total(1, 3), [6, 6, 7, 8])
    log_pmf = dist.log_pmf(np.array([2, 9, 5]))
    assert np.all(np.isfinite(log_pmf))
    assert log_pmf[0] > log_pmf[1]  # seen once vs never seen
    with pytest.raises(ModelError, match="horizon 3"):
        dist.total(0, 4)
    with pytest.raises(ModelError, match="negative"):
        PredictiveDistribution(dist.start, -samples)


@pytest.mark.parametrize("name", model_names())
def test_models_fit_and_forecast_with_exogenous_events(
    name: str, post_times: pd.DatetimeIndex
) -> None:
    end = datetime(2026, 2, 1, tzinfo=UTC)
    events = [
        EventWindow(end - timedelta(days=3), end - timedelta(days=2), 1.0),
        EventWindow(end + timedelta(hours=5), end + timedelta(hours=8), 2.0),
    ]
    history = history_from_posts(post_times, end, 30, events)
    forecast = create_model(name, **_hyperparameters(name)).fit(history).predict(24, 200, 0)
    assert forecast.samples.shape == (200, 24) and np.all(np.isfinite(forecast.mean))
