"""Window layout, regime marks and a small real backtest with the ensemble (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from musktracker.evaluation.backtest import (
    BacktestPlan,
    WindowOutcome,
    WindowRun,
    WindowTask,
    collect,
    run_backtest,
)
from musktracker.evaluation.metrics import score_forecast
from musktracker.evaluation.ranking import common_windows, comparable_crps
from musktracker.evaluation.regimes import RegimeShift
from musktracker.evaluation.training import parse_models, shifted_origins
from musktracker.forecasting.errors import ForecastError
from musktracker.models.base import PredictiveDistribution

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def test_windows_end_at_as_of_and_step_back() -> None:
    plan = BacktestPlan(AS_OF, windows=3, horizon=24, step=timedelta(days=2), train_days=10)
    assert plan.origins() == [
        datetime(2026, 2, 24, tzinfo=UTC),
        datetime(2026, 2, 26, tzinfo=UTC),
        datetime(2026, 2, 28, tzinfo=UTC),
    ]
    assert plan.first_training_start == datetime(2026, 2, 14, tzinfo=UTC)


def test_windows_after_a_shift_are_marked() -> None:
    plan = BacktestPlan(AS_OF, windows=3, horizon=24, train_days=10)
    shift = RegimeShift("cusum", datetime(2026, 2, 18, tzinfo=UTC), AS_OF, "up", 50.0, 90.0)
    # origins 02-26, 02-27, 02-28: trained from 02-16, 02-17, 02-18 on
    assert shifted_origins(plan, [shift]) == set(plan.origins())
    early = RegimeShift("cusum", datetime(2026, 2, 16, 12, tzinfo=UTC), AS_OF, "up", 5.0, 9.0)
    assert shifted_origins(plan, [early]) == {plan.origins()[0]}
    # a change inside the target day of the second window marks it and the third
    late = RegimeShift("cusum", datetime(2026, 2, 27, 12, tzinfo=UTC), AS_OF, "down", 9.0, 5.0)
    assert shifted_origins(plan, [late]) == set(plan.origins()[1:])


def test_parse_models() -> None:
    assert "ensemble" in parse_models("all")
    assert parse_models("hawkes, hawkes,sarimax") == ["hawkes", "sarimax"]
    alone = parse_models("ensemble")
    assert alone[-1] == "ensemble" and "negative_binomial" in alone
    with pytest.raises(ForecastError, match="--model 'hawk'"):
        parse_models("hawk")


def test_the_ensemble_is_scored_without_members_too_short_for_every_window(posts_csv) -> None:
    """Ten days of an account's posts: negative_binomial (8 days) and hawkes (a week) fail
    on every 5-day window, hour_of_day_mean fits. The ensemble was scored on no window (and
    missing from `train`'s ranking) though the fitted ensemble forecasts without them."""
    frame = pd.read_csv(posts_csv, usecols=["created_at"])
    posts = pd.DatetimeIndex(pd.to_datetime(frame["created_at"], utc=True))
    posts = posts[posts >= pd.Timestamp(AS_OF - timedelta(days=10))]
    plan = BacktestPlan(AS_OF, windows=2, train_days=5, horizon=24, n_samples=100)
    models = ["negative_binomial", "hawkes", "hour_of_day_mean", "ensemble"]
    result, _ = run_backtest(plan, posts, [], models, workers=1)
    assert {m for m, _ in result.failures} == {"negative_binomial", "hawkes"}
    assert set(result.summary()) == {"hour_of_day_mean", "ensemble"}
    assert result.summary()["ensemble"]["windows"] == 2
    assert result.ensemble_weights == {"hour_of_day_mean": pytest.approx(1.0)}


def test_small_backtest_scores_every_model_and_the_ensemble(posts_csv) -> None:
    frame = pd.read_csv(posts_csv, usecols=["created_at"])
    posts = pd.DatetimeIndex(pd.to_datetime(frame["created_at"], utc=True))
    plan = BacktestPlan(AS_OF, windows=3, train_days=14, horizon=24, n_samples=200)
    models = ["hour_of_day_mean", "seasonal_naive_daily", "ensemble"]
    result, final = run_backtest(plan, posts, [], models, workers=2)
    assert result.failures == {}
    assert final == {}
    summary = result.summary()
    assert set(summary) == set(models)
    for origin in plan.origins():
        begin = pd.Timestamp(origin)
        chosen = posts[(posts >= begin) & (posts < begin + pd.Timedelta(hours=24))]
        outcome = next(o for o in result.of("hour_of_day_mean") if o.origin == origin)
        assert outcome.score.total_actual == len(chosen)
        assert outcome.samples.shape == (200, 24)
    # the ensemble's first window weighs equally; it is a mixture of the members' paths
    assert np.isfinite(summary["ensemble"]["crps"]) and summary["ensemble"]["windows"] == 3
    # fitting the ensemble means fitting its members (it reported 0.0 s); of the models run,
    # hour_of_day_mean is its only default member
    members = summary["hour_of_day_mean"]["fit_seconds"]
    assert summary["ensemble"]["fit_seconds"] == pytest.approx(members) and members > 0


def test_backtest_ensemble_is_sharpened_once_past_windows_say_so() -> None:
    # members forecast 3 and 5 posts an hour, the truth is 4: their pool is too wide
    plan = BacktestPlan(AS_OF, windows=8, horizon=24, n_samples=400)
    rng = np.random.default_rng(0)
    runs = []
    for origin in plan.origins():
        actual = rng.poisson(4.0, 24)
        outcomes = []
        for name, mean in (("low", 3.0), ("high", 5.0)):
            forecast = PredictiveDistribution(origin, rng.poisson(mean, (400, 24)))
            lower, upper = forecast.interval()
            outcomes.append(WindowOutcome(name, origin, forecast.samples, forecast.mean, lower,
                                          upper, actual, score_forecast(forecast, actual), 0.0))
        runs.append((WindowTask(origin, (), 30.0, 24, 400, 0, actual, None), WindowRun(outcomes)))
    result, _ = collect(plan, ["low", "high", "ensemble"], runs)
    assert result.ensemble_sharpness > 1.0
    widths = [np.ptp(np.percentile(o.samples.sum(axis=1), [2.5, 97.5]))
              for o in result.of("ensemble")]
    # the first five windows have too few past windows and stay the plain pool
    assert max(widths[5:]) < 0.85 * min(widths[:5])


def test_models_are_ranked_on_the_windows_all_were_scored_on() -> None:
    days = [AS_OF + timedelta(days=k) for k in range(3)]
    same = {"a": {d: 1.0 for d in days}, "b": {d: 2.0 for d in days}}
    pooled = {"a": 0.99, "b": 2.01}  # the stored pooled values are kept as they are
    assert comparable_crps(same, pooled) == pooled and common_windows(same) == []
    nested = {"a": {d: 1.0 for d in days}, "b": {days[2]: 0.5}}
    assert comparable_crps(nested, {"a": 1.0, "b": 0.5}) == {"a": 1.0, "b": 0.5}
    nested["a"][days[2]] = 0.4
    assert comparable_crps(nested, {"a": 0.8, "b": 0.5}) == {"a": 0.4, "b": 0.5}
    assert common_windows(nested) == [days[2]]
    apart = {"a": {days[0]: 1.0}, "b": {days[1]: 2.0}}  # nothing in common: pooled
    assert comparable_crps(apart, {"a": 1.0, "b": 2.0}) == {"a": 1.0, "b": 2.0}
