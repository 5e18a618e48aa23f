from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from musktracker.features.build import EventWindow, compute_features
from musktracker.features.count_rule import ALL_KINDS, CountRule

START = datetime(2024, 1, 1, tzinfo=UTC)


def _series(hours: int, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=hours, freq="h", tz="UTC")
    return pd.Series(rng.poisson(3, hours), index=index)


def test_lags_and_rolling_use_only_past_buckets() -> None:
    counts = _series(400)
    times = pd.DatetimeIndex(counts.index[200:])
    f = compute_features(counts, [], times)
    t = times[0]
    pos = 200
    assert f.loc[t, "lag_1h"] == counts.iloc[pos - 1]
    assert f.loc[t, "lag_24h"] == counts.iloc[pos - 24]
    assert f.loc[t, "lag_7d"] == counts.iloc[pos - 168]
    assert f.loc[t, "rolling_mean_24h"] == pytest.approx(counts.iloc[pos - 24 : pos].mean())
    assert f.loc[t, "rolling_std_7d"] == pytest.approx(counts.iloc[pos - 168 : pos].std(ddof=1))
    assert f.loc[t, "hour_of_day"] == t.hour and f.loc[t, "day_of_week"] == t.day_of_week


def test_changing_future_data_leaves_past_features_unchanged() -> None:
    counts = _series(500)
    times = pd.DatetimeIndex(counts.index)
    before = compute_features(counts, [], times)
    cut = counts.index[300]
    changed = counts.copy()
    changed[changed.index >= cut] = 1000  # rewrite the future
    after = compute_features(changed, [], times)
    past = times <= cut  # features at t <= cut only see buckets ending at or before t
    pd.testing.assert_frame_equal(before[past], after[past])
    assert not before[~past].equals(after[~past])


def test_missing_history_is_null_not_zero() -> None:
    counts = _series(30)
    f = compute_features(counts, [], pd.DatetimeIndex(counts.index))
    assert f["lag_7d"].isna().all()
    assert f["rolling_mean_24h"].iloc[:24].isna().all()
    assert f["rolling_mean_24h"].iloc[24:].notna().all()


def test_one_hour_past_the_last_bucket_is_a_reference_time() -> None:
    counts = _series(48)
    nxt = counts.index[-1] + pd.Timedelta(hours=1)
    f = compute_features(counts, [], pd.DatetimeIndex([nxt]))
    assert f.loc[nxt, "lag_1h"] == counts.iloc[-1]


def test_event_window_is_past_day_plus_the_described_hour() -> None:
    counts = _series(100)
    ev = EventWindow(START + timedelta(hours=50), START + timedelta(hours=52), 0.7)
    weak = EventWindow(START + timedelta(hours=51), START + timedelta(hours=60), 0.2)
    f = compute_features(counts, [ev, weak], pd.DatetimeIndex(counts.index))

    def at(hour: int) -> Any:
        return f.loc[START + timedelta(hours=hour)]

    assert at(49)["event_intensity"] == 0.0  # the hour 49-50 ends before the event
    assert at(50)["event_intensity"] == 0.7 and at(50)["events_in_window"] == 1
    assert at(51)["events_in_window"] == 2
    assert at(75)["event_intensity"] == 0.7  # 52 + 24 > 75
    assert at(76)["event_intensity"] == 0.2  # the strong event left the 24 h window
    assert at(84)["events_in_window"] == 0


def test_count_rules() -> None:
    assert CountRule.parse(None) is ALL_KINDS and ALL_KINDS.name == "all"
    rule = CountRule.parse("repost, original,quote")
    assert rule.name == "original,quote,repost"
    assert rule.columns == ["original_count", "quote_count", "repost_count"]
    with pytest.raises(ValueError, match="--kinds: 'tweets' is not a post kind"):
        CountRule.parse("original,tweets")
