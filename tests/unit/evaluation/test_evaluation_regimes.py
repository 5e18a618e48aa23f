"""Regime detection on simulated series with known change points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musktracker.evaluation.regimes import (
    cusum_shifts,
    cusum_threshold,
    daily_counts,
    detect_shifts,
    rolling_variance_shifts,
    too_short,
)


def _hourly(daily_levels: list[tuple[int, float]], seed: int = 0) -> pd.Series:
    """Overdispersed hourly counts: NB days (size 8) spread over hours with a daily cycle."""
    rng = np.random.default_rng(seed)
    profile = 1 + 0.8 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    profile /= profile.sum()
    days: list[np.ndarray] = []
    for n_days, level in daily_levels:
        totals = rng.negative_binomial(8, 8 / (8 + level), size=n_days)
        days.extend(rng.multinomial(t, profile) for t in totals)
    values = np.concatenate(days)
    index = pd.date_range("2025-01-01", periods=len(values), freq="h", tz="UTC")
    return pd.Series(values, index=index)


def test_one_level_shift_gives_one_alert_near_the_change() -> None:
    change = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=120)
    for seed in range(2, 6):
        shifts = cusum_shifts(_hourly([(120, 40.0), (120, 80.0)], seed=seed))
        after = [s for s in shifts if pd.Timestamp(s.change_at) >= change - pd.Timedelta(days=10)]
        assert len(after) == 1, shifts
    shift = after[0]
    assert shift.direction == "up"
    assert abs((pd.Timestamp(shift.change_at) - change).days) <= 5
    assert shift.level_after == pytest.approx(80, rel=0.3)


def test_no_change_gives_few_alerts() -> None:
    # two years in control: about one false alarm a year is the target
    alerts = [len(cusum_shifts(_hourly([(730, 50.0)], seed=s))) for s in range(5)]
    assert np.mean(alerts) <= 3.0


def test_drop_and_outage_days() -> None:
    # three empty days look like a collection outage, not a regime: no alert near them
    outage = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=100)
    for seed in range(6):
        shifts = cusum_shifts(_hourly([(100, 60.0), (3, 0.0), (100, 60.0)], seed=seed))
        assert all(abs((pd.Timestamp(s.change_at) - outage).days) > 10 for s in shifts)
    down = cusum_shifts(_hourly([(100, 60.0), (100, 25.0)], seed=3))
    assert [s.direction for s in down] == ["down"]


def test_threshold_grows_with_fewer_false_alarms() -> None:
    assert cusum_threshold(50.0, 8.0, 1.5, 0.1) > cusum_threshold(50.0, 8.0, 1.5, 2.0)


def test_daily_counts_drop_partial_days_and_variance_rule_runs() -> None:
    series = _hourly([(200, 40.0), (60, 120.0)])
    assert len(daily_counts(series.iloc[:-5])) == 259
    alerts = rolling_variance_shifts(series)
    assert alerts and all(a.rule == "rolling_variance" for a in alerts)


def test_rolling_variance_direction_is_the_level_direction() -> None:
    """Bursts at a lower level raise the variance while the level falls: the alert says
    "down", as its posts/day before and after show (it used to say "up")."""
    rng = np.random.default_rng(3)
    calm = rng.poisson(3.0, size=24 * 120)
    bursty = np.where(rng.random(24 * 30) < 0.05, rng.poisson(25.0, size=24 * 30), 0)
    index = pd.date_range("2025-01-01", periods=24 * 150, freq="h", tz="UTC")
    alerts = rolling_variance_shifts(pd.Series(np.concatenate([calm, bursty]), index=index))
    assert alerts
    first = alerts[0]
    assert first.level_before is not None and first.level_after < first.level_before
    assert first.direction == "down"
    for a in alerts:
        assert a.level_before is not None
        assert a.direction == ("up" if a.level_after > a.level_before else "down")


def test_too_short_names_exactly_the_rules_that_cannot_fire_yet() -> None:
    """A 4-day account got "cusum: 0 alerts", as if its level had been checked and found
    steady. `too_short` names a rule exactly while it cannot fire: one day more and a
    jump to ten times the level is an alert."""
    assert set(too_short(_hourly([(4, 40.0)]))) == {"cusum", "rolling_variance"}
    assert "has 4" in too_short(_hourly([(4, 40.0)]))["cusum"]
    assert too_short(_hourly([(60, 40.0)])) == {}
    # cusum: 42 days are its reference; the 43rd is the first it checks
    assert "cusum" in too_short(_hourly([(42, 40.0)]))
    assert detect_shifts(_hourly([(42, 40.0)]))["cusum"] == []
    jump = _hourly([(42, 40.0), (1, 400.0)])
    assert "cusum" not in too_short(jump) and len(detect_shifts(jump)["cusum"]) == 1
    # rolling variance: a week of hours before its first day end, then 30 day ends of
    # baseline, then the day checked
    calm, burst = _hourly([(36, 40.0)]), _hourly([(37, 40.0)], seed=1)
    assert "rolling_variance" in too_short(calm)
    assert detect_shifts(calm)["rolling_variance"] == []
    values = burst.to_numpy().copy()
    values[-12:] = [0, 90] * 6  # a wild last day
    wild = pd.Series(values, index=burst.index)
    assert "rolling_variance" not in too_short(wild)
    assert len(detect_shifts(wild)["rolling_variance"]) == 1
