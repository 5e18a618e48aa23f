"""load_history reads the same history from the database (SQLite and PostgreSQL) as
history_from_posts builds from the CSV, and a model fits on it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from musktracker.accounts import add_account
from musktracker.db.models import RawTweet
from musktracker.db.session import session_scope
from musktracker.features.buckets import rebuild_buckets
from musktracker.features.count_rule import CountRule
from musktracker.ingest.importer import import_archive
from musktracker.models.base import ModelError
from musktracker.models.history import history_from_posts, load_history
from musktracker.models.registry import create_model

END = datetime(2022, 11, 15, tzinfo=UTC)


def test_load_history_matches_posts(engine: Engine, posts_sample: Path) -> None:
    with session_scope(engine) as session:
        account = add_account(session, "elonmusk")
        import_archive(session, "elonmusk", posts_sample)
        # On PostgreSQL the importer reports 0 rows inserted (executemany rowcount), so it
        # skips the bucket refresh; rebuild explicitly (noted in the issue-3a report).
        rebuild_buckets(session, account.id)
        history = load_history(session, account.id, END, 7)
    frame = pd.read_csv(posts_sample, usecols=["created_at"])
    expected = history_from_posts(
        pd.DatetimeIndex(pd.to_datetime(frame["created_at"], utc=True)), END, 7
    )
    assert history.counts.equals(expected.counts)
    assert np.allclose(history.post_times, expected.post_times, atol=1e-3)
    assert history.end == END and history.post_times.max() < END.timestamp()
    forecast = create_model("hawkes").fit(history).predict(24, n_samples=200, seed=0)
    assert forecast.samples.shape == (200, 24)


def test_load_history_skips_deleted_posts_and_other_kinds(
    engine: Engine, posts_sample: Path
) -> None:
    with session_scope(engine) as session:
        account = add_account(session, "elonmusk")
        import_archive(session, "elonmusk", posts_sample)
        # On PostgreSQL the importer reports 0 rows inserted (executemany rowcount), so it
        # skips the bucket refresh; rebuild explicitly (noted in the issue-3a report).
        rebuild_buckets(session, account.id)
        full = load_history(session, account.id, END, 7)
        first = float(full.post_times[0])
        session.execute(
            update(RawTweet)
            .where(RawTweet.created_at >= datetime.fromtimestamp(first, UTC))
            .where(RawTweet.created_at < datetime.fromtimestamp(first + 1, UTC))
            .values(is_deleted=True)
        )
        fewer = load_history(session, account.id, END, 7)
        assert len(fewer.post_times) == len(full.post_times) - 1
        with pytest.raises(ModelError, match="no posts"):
            load_history(session, account.id, END, 7, CountRule.parse("reply"))


def test_load_history_refuses_an_end_after_the_data(engine: Engine, posts_sample: Path) -> None:
    """Hours after the last stored bucket are unknown: they are not filled with zeros."""
    with session_scope(engine) as session:
        account = add_account(session, "elonmusk")
        import_archive(session, "elonmusk", posts_sample)
        rebuild_buckets(session, account.id)
        with pytest.raises(ModelError, match=r"@elonmusk.s data end at 2023-02-.*unknown"):
            load_history(session, account.id, datetime(2023, 3, 10, tzinfo=UTC), 30)
