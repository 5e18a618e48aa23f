"""Bracket parsing and probabilities, window thinning."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from musktracker.forecasting.brackets import (
    MAX_BRACKETS,
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
    # four decimals that add up to exactly 1; the leftover unit goes to the first tie
    assert [b.probability for b in brackets] == [0.3334, 0.3333, 0.3333]
    assert brackets[1].label() == "140-159"


def test_width_mode_brackets_the_distribution_between_two_open_ends() -> None:
    totals = np.random.default_rng(0).poisson(100, 5000)
    brackets = bracket_probabilities(totals, BracketSpec.parse("20"))
    # the unlikely low counts share one bracket from 0; the rest are multiples of the width
    first = brackets[1].low
    assert brackets[0].low == 0 and brackets[0].high == first - 1 and first % 20 == 0
    assert 0 < first <= np.quantile(totals, 0.005)
    assert all(b.high is not None and b.high - b.low == 19 for b in brackets[1:-1])
    assert brackets[-1].high is None and brackets[-1].low <= np.quantile(totals, 0.995)
    assert sum(Decimal(repr(b.probability)) for b in brackets) == 1


def test_width_mode_of_a_window_that_is_over_is_two_brackets() -> None:
    # 26,464 observed posts in 20s used to be 1,324 brackets, all but one at 0
    brackets = bracket_probabilities(np.full(2000, 26_464), BracketSpec.parse("20"))
    assert [(b.low, b.high, b.probability) for b in brackets] == [
        (0, 26_459, 0.0), (26_460, None, 1.0)
    ]


def test_too_many_brackets_are_refused_naming_a_width_that_fits() -> None:
    totals = np.random.default_rng(1).integers(5_000, 15_000, 2000)
    with pytest.raises(BracketError, match=r"--brackets 1: .* at least (\d+)") as caught:
        bracket_probabilities(totals, BracketSpec.parse("1"))
    width = caught.value.args[0].rsplit(" ", 1)[-1]
    assert len(bracket_probabilities(totals, BracketSpec.parse(width))) <= MAX_BRACKETS
    edges = ",".join(str(k) for k in range(MAX_BRACKETS + 1))
    with pytest.raises(BracketError, match=f"{MAX_BRACKETS + 1} brackets, at most"):
        BracketSpec.parse(edges)


def test_first_edge_above_zero_gets_a_bottom_bracket() -> None:
    assert BracketSpec.parse("140,160").edges == (0, 140, 160)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "'' is not a whole number"),
        ("abc", "'abc' is not a whole number"),
        ("0", "width must be at least 1"),
        ("-5", "'-5' is a negative count"),
        ("0,160,140", "140 follows 160"),
        ("0,0,10", "0 follows 0"),
        ("-1,5", "'-1' is a negative count"),
        ("0,140,160,...", "'...' is not a whole number"),
        ("20,", "'' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        ("+5,+10", "'+5' is not a whole number"),
        ("0,1_000", "'1_000' is not a whole number"),
        ("\uff11\uff12", "is not a whole number"),  # full-width digits, which int() takes
        ("0,99999999999999999999999", "is more than 1,000,000,000 posts"),
    ],
)
def test_bad_brackets_name_the_option_and_the_value(text: str, says: str) -> None:
    with pytest.raises(BracketError, match=f"^--brackets {re.escape(repr(text))}: ") as caught:
        BracketSpec.parse(text)
    assert says in str(caught.value)


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


def test_probabilities_are_short_decimals_that_add_up_to_exactly_one() -> None:
    # the shares of a real forecast (2,000 paths, width 20 from 140): the open top bracket
    # used to be 1 minus the others, 0.005500000000000171 instead of 11/2000
    counts = [4, 3, 3, 22, 35, 58, 111, 132, 165, 194, 196, 181, 159, 123, 134, 121, 90, 63,
              47, 31, 25, 24, 22, 18, 10, 7, 8, 3, 11]
    lows = [140 + 20 * k for k in range(len(counts))]
    totals = np.repeat(lows, counts)
    brackets = bracket_probabilities(totals, BracketSpec.parse(",".join(map(str, lows))))
    assert brackets[-1].probability == 0.0055 and repr(brackets[-1].probability) == "0.0055"
    assert [b.probability for b in brackets[1:]] == [c / 2000 for c in counts]
    assert sum(Decimal(repr(b.probability)) for b in brackets) == 1


def test_rounded_probabilities_stay_within_a_unit_of_the_share() -> None:
    # 3,001 paths: no share is a short decimal, so every one is rounded to four decimals
    totals = np.random.default_rng(41).poisson(300, size=3001)
    brackets = bracket_probabilities(totals, BracketSpec.parse("3"))
    assert sum(Decimal(repr(b.probability)) for b in brackets) == 1
    edges = [b.low for b in brackets]
    counts = np.bincount(np.searchsorted(edges, totals, side="right") - 1)
    for bracket, count in zip(brackets, counts, strict=True):
        assert round(bracket.probability, 4) == bracket.probability
        assert abs(bracket.probability - count / 3001) < 1e-4
        assert (bracket.probability == 0) == (count == 0)
