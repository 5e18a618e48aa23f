"""Real @elonmusk post times for the model tests, read once per session."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from musktracker.models.base import History
from musktracker.models.history import history_from_posts

AS_OF = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def post_times(posts_csv: Path) -> pd.DatetimeIndex:
    frame = pd.read_csv(posts_csv, usecols=["created_at"])
    return pd.DatetimeIndex(pd.to_datetime(frame["created_at"], utc=True))


@pytest.fixture(scope="session")
def history_30d(post_times: pd.DatetimeIndex) -> History:
    """30 days of real posts ending at AS_OF."""
    return history_from_posts(post_times, AS_OF, 30)
