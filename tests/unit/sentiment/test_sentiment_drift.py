import math

import pytest

from musktracker.sentiment.drift import LENGTH_EDGES, label_shares, length_shares, psi


def test_psi_is_zero_for_identical_and_large_for_shifted():
    base = [0.2, 0.4, 0.4]
    assert psi(base, base) == pytest.approx(0.0)
    shifted = [0.6, 0.2, 0.2]
    expected = sum((a - e) * math.log(a / e) for e, a in zip(base, shifted, strict=True))
    assert psi(base, shifted) == pytest.approx(expected)
    assert psi(base, shifted) > 0.2


def test_psi_survives_empty_bins():
    assert math.isfinite(psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))


def test_shares_sum_to_one():
    assert label_shares(["positive", "positive", "negative", "neutral"]) == [0.25, 0.25, 0.5]
    shares = length_shares([1, 7, 12, 100])
    assert len(shares) == len(LENGTH_EDGES) - 1
    assert sum(shares) == pytest.approx(1.0)
    assert shares[0] == 0.25 and shares[-1] == 0.25


def test_psi_needs_equal_bins():
    with pytest.raises(ValueError, match="equal bins"):
        psi([1.0], [0.5, 0.5])
