"""Metrics against hand computations and against each other (sample CRPS vs exact pmf CRPS)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from scipy import stats

from musktracker.evaluation.metrics import (
    coverage,
    crps_pmf,
    crps_samples,
    mae,
    mape,
    pit_coverage,
    rmse,
    score_forecast,
    summarize,
)
from musktracker.models.base import PredictiveDistribution


def test_point_errors_by_hand() -> None:
    assert rmse([0, 2], [1, 1]) == pytest.approx(1.0)
    assert mae([0, 4], [1, 1]) == pytest.approx(2.0)
    # zero counts: |0-1| + |4-1| over the total 4, in percent
    assert mape([0, 4], [1, 1]) == pytest.approx(100.0)
    # all zero: the denominator is floored at 1 instead of dividing by zero
    assert mape([0, 0], [1, 2]) == pytest.approx(300.0)


def test_crps_of_a_point_mass_is_the_absolute_error() -> None:
    samples = np.full((50, 3), 4)
    assert crps_samples(samples, [4, 6, 1]) == pytest.approx([0.0, 2.0, 3.0])


def test_sample_crps_converges_to_exact_pmf_crps() -> None:
    rng = np.random.default_rng(1)
    mu = 3.0
    samples = rng.poisson(mu, size=(200_000, 1))
    pmf = stats.poisson.pmf(np.arange(60), mu)[None, :]
    for y in (0, 3, 9):
        assert crps_samples(samples, [y])[0] == pytest.approx(crps_pmf(pmf, [y])[0], rel=0.01)


def test_crps_pmf_by_hand() -> None:
    # P(0)=0.5, P(1)=0.5, y=1: (F(0)-0)^2 + (F(1)-1)^2 = 0.25
    assert crps_pmf([[0.5, 0.5]], [1])[0] == pytest.approx(0.25)


def test_coverage_counts_the_bounds_as_inside() -> None:
    assert coverage([1, 2, 3, 9], [1, 1, 1, 1], [3, 3, 3, 3]) == pytest.approx(0.75)


def test_score_forecast_and_summary() -> None:
    rng = np.random.default_rng(2)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    dist = PredictiveDistribution(start, rng.poisson(2.0, size=(4000, 24)))
    actual = rng.poisson(2.0, size=24)
    score = score_forecast(dist, actual)
    assert score.total_actual == int(actual.sum())
    assert score.total_mean == pytest.approx(48.0, rel=0.02)
    assert 0.8 <= score.coverage_95 <= 1.0
    assert score.log_score == pytest.approx(
        -np.mean(stats.poisson.logpmf(actual, 2.0)), rel=0.05
    )
    pooled = summarize([score, score])
    assert pooled["crps"] == pytest.approx(score.crps)
    assert pooled["rmse"] == pytest.approx(score.rmse)
    with pytest.raises(ValueError, match="24 hours but 3"):
        score_forecast(dist, [1, 2, 3])


def test_pit_coverage_is_exact_for_calibrated_counts_and_flags_wide_ones() -> None:
    rng = np.random.default_rng(3)
    samples = rng.poisson(1.0, size=(20_000, 1))
    actual = rng.poisson(1.0, size=4000)
    calibrated = np.mean([pit_coverage(samples, [y]) for y in actual[:400]])
    assert calibrated == pytest.approx(0.95, abs=0.02)
    lower, upper = np.quantile(samples, [0.025, 0.975], method="inverted_cdf")
    # plain central-interval coverage of a calibrated count forecast is well above 95%
    assert coverage(actual, np.full(4000, lower), np.full(4000, upper)) > 0.97
    too_wide = rng.poisson(rng.gamma(1.0, 1.0, size=(20_000, 1)))
    assert np.mean([pit_coverage(too_wide, [y]) for y in actual[:400]]) > 0.97
