"""The sentiment migration runs up, down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from musktracker.db import migrate
from musktracker.db.session import get_engine

TABLES = {"sentiment_models", "sentiment_predictions", "labelled_samples", "retrain_decisions"}


def test_up_down_up(db_url: str):
    migrate.upgrade(db_url, "0004_sentiment")
    assert set(inspect(get_engine(db_url)).get_table_names()) >= TABLES
    migrate.downgrade(db_url, "0001")
    assert not TABLES & set(inspect(get_engine(db_url)).get_table_names())
    migrate.upgrade(db_url, "0004_sentiment")
    assert set(inspect(get_engine(db_url)).get_table_names()) >= TABLES
