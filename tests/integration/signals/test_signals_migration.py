from __future__ import annotations

from sqlalchemy import inspect

from musktracker.db import migrate
from musktracker.db.session import get_engine

SIGNAL_TABLES = {
    "events",
    "signals",
    "push_outbox",
    "onchain_features",
    "signal_dedup_keys",
    "signal_checkpoints",
}


def test_signals_migration_up_down_up(db_url: str) -> None:
    migrate.upgrade(db_url, "0005_signals")
    engine = get_engine(db_url)
    assert set(inspect(engine).get_table_names()) >= SIGNAL_TABLES
    migrate.downgrade(db_url, "0001")
    assert not SIGNAL_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(db_url, "0005_signals")
    uniques = inspect(engine).get_unique_constraints("push_outbox")
    assert {"channel", "event_key"} in [set(u["column_names"]) for u in uniques]
