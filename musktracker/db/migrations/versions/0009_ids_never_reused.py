"""No id is ever handed out twice on SQLite, in any table (0008 did it for one).

SQLite gives a plain INTEGER PRIMARY KEY the largest id plus one, so deleting the newest
rows hands their ids out again. `accounts remove` deletes an account and its posts: the
next account added got the removed one's id (and with it a running stream's posts, its
artifact folder `ARTIFACT_DIR/<id>`), and new posts got ids at or below the signals
pipeline's checkpoint. AUTOINCREMENT makes SQLite remember the highest id ever used, as
PostgreSQL's identity sequences do: nothing changes there.

Each table is rebuilt (copy, drop, rename). env.py turns foreign-key enforcement off for
it, as SQLite requires: with it on, dropping `accounts` would cascade-delete every row that
refers to it.

Revision ID: 0009_ids_never_reused
Revises: 0008_event_ids_never_reused
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009_ids_never_reused"
down_revision = "0008_event_ids_never_reused"
branch_labels = None
depends_on = None

# Every table with an integer `id` key at this revision, parents before children;
# exogenous_events has AUTOINCREMENT since 0008.
TABLES = (
    "accounts",
    "raw_tweets",
    "time_buckets",
    "features",
    "model_metadata",
    "forecasts",
    "ingest_state",
    "backtest_results",
    "regime_shifts",
    "events",
    "signals",
    "push_outbox",
    "onchain_features",
    "signal_dedup_keys",
    "api_keys",
    "sentiment_models",
    "sentiment_predictions",
    "labelled_samples",
    "retrain_decisions",
)


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
