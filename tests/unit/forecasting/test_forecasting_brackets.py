"""Bracket parsing and probabilities, window thinning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from musktracker.forecasting.brackets import (
    BracketError,
    BracketSpec,
    WindowForecast,
    bracket_probabilities,
    hour_fractions,
    window_totals,
)

T0 = datetime(2026, 2, 20, 17, tzinfo=UTC)


def test_edges_are_inclusive_and_the_top_is_open() -> None:
    totals = np.array([0, 139, 140, 159, 160, 500])
    brackets = bracket_probabilities(totals, BracketSpec.parse("0,140,160"))
    assert [(b.low, b.high) for b in brackets] == [(0, 139), (140, 159), (160, None)]
    assert [b.probability for b in brackets] == pytest.approx([2 / 6, 2 / 6, 2 / 6])
    assert brackets[1].label() == "140-159"


def test_width_mode_starts_at_zero_and_sums_to_one() -> None:
    totals = np.random.default_rng(0).poisson(100, 5000)
    brackets = bracket_probabilities(totals, BracketSpec.parse("20"))
    assert brackets[0].low == 0 and brackets[0].high == 19
    assert brackets[-1].high is None
    assert sum(b.probability for b in brackets) == pytest.approx(1.0)


def test_first_edge_above_zero_gets_a_bottom_bracket() -> None:
    assert BracketSpec.parse("140,160").edges == (0, 140, 160)


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "0,160,140", "0,0,10", "-1,5"])
def test_bad_brackets_name_the_option(text: str) -> None:
    with pytest.raises(BracketError, match="--brackets"):
        BracketSpec.parse(text)


def test_hour_fractions_and_thinning() -> None:
    hours = pd.date_range(T0, periods=3, freq="h", tz="UTC")
    start, end = T0 + timedelta(minutes=30), T0 + timedelta(hours=2, minutes=15)
    assert hour_fractions(hours, start, end) == pytest.approx([0.5, 1.0, 0.25])
    samples = np.full((20_000, 3), 8)
    totals = window_totals(samples, hours, start, end, seed=1)
    assert totals.mean() == pytest.approx(4 + 8 + 2, rel=0.01)
    assert window_totals(samples, hours, T0, T0 + timedelta(hours=3)).tolist() == [24] * 20_000


def test_window_forecast_quantiles() -> None:
    window = WindowForecast(T0, T0 + timedelta(days=7), 10, np.arange(10, 110))
    q = window.quantiles()
    assert q[0.05] == 14 and q[0.5] == 59 and q[0.95] == 104
    assert window.mean == pytest.approx(59.5)


def test_bracket_probabilities_added_in_order_sum_to_one() -> None:
    # many narrow brackets: shares counted separately summed to 1 - 4.4e-16 here
    totals = np.random.default_rng(41).poisson(300, size=2000)
    brackets = bracket_probabilities(totals, BracketSpec.parse("3"))
    assert sum(b.probability for b in brackets) == 1.0
    top = brackets[-1]
    assert top.high is None
    assert top.probability == pytest.approx(np.count_nonzero(totals >= top.low) / 2000)
    assert all(b.probability >= 0 for b in brackets)
