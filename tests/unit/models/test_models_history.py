"""History building from post times: no look-ahead, dense counts, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from musktracker.models.base import ModelError
from musktracker.models.history import history_from_posts
from musktracker.utc import NaiveDatetimeError

END = datetime(2026, 2, 1, tzinfo=UTC)


def test_history_holds_only_posts_before_end(post_times: pd.DatetimeIndex) -> None:
    history = history_from_posts(post_times, END, 30)
    inside = post_times[(post_times >= pd.Timestamp(END - timedelta(days=30)))]
    inside = inside[inside < pd.Timestamp(END)]
    assert len(history.post_times) == len(inside) == int(history.counts.sum())
    assert history.post_times.max() < END.timestamp()
    assert history.counts.index[-1] == pd.Timestamp(END - timedelta(hours=1))
    assert len(history.counts) == 30 * 24
    assert np.all(np.diff(history.post_times) >= 0)


def test_history_starts_at_the_first_post_when_data_is_short() -> None:
    posts = pd.DatetimeIndex(["2026-01-31T20:30:00Z", "2026-01-31T20:31:00Z"])
    history = history_from_posts(posts, END, 30)
    assert history.counts.index[0] == pd.Timestamp("2026-01-31T20:00:00Z")
    assert history.counts.tolist() == [2, 0, 0, 0]


def test_bad_input_is_named() -> None:
    posts = pd.DatetimeIndex(["2026-01-31T20:30:00Z"])
    with pytest.raises(ModelError, match="not on an hour boundary"):
        history_from_posts(posts, END + timedelta(minutes=5), 30)
    with pytest.raises(NaiveDatetimeError):
        history_from_posts(posts, END.replace(tzinfo=None), 30)
    with pytest.raises(ModelError, match="no posts before"):
        history_from_posts(posts, END - timedelta(days=2), 30)
    with pytest.raises(ModelError, match="train_days must be positive"):
        history_from_posts(posts, END, 0)


def test_last_days_cuts_counts_and_posts_together(post_times: pd.DatetimeIndex) -> None:
    history = history_from_posts(post_times, END, 30)
    short = history.last_days(7)
    assert len(short.counts) == 7 * 24 and short.end == history.end
    assert len(short.post_times) == int(short.counts.sum())
    assert short.post_times.min() >= short.start.timestamp()
    assert history.last_days(0) is history and history.last_days(60) is history
