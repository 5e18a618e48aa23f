"""Signals: events, signals, push_outbox, onchain_features, dedup keys and checkpoints.

Revision ID: 0005_signals
Revises: 0004_sentiment
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_signals"
down_revision = "0004_sentiment"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id() -> sa.Column[int]:
    return sa.Column("id", _ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "events",
        _id(),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=True),
        sa.Column("token_ca", sa.String(100), nullable=True),
        sa.Column("chain", sa.String(20), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("start_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    op.create_index("ix_events_last_ts", "events", ["last_ts"])
    op.create_table(
        "signals",
        _id(),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("risk_level", sa.String(20), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("features_snapshot", _JSON, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('candidate', 'verified', 'downgraded')", name="ck_signals_state"
        ),
        sa.ForeignKeyConstraint(["event_key"], ["events.event_key"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    op.create_table(
        "push_outbox",
        _id(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'done', 'failed', 'dlq')",
            name="ck_push_outbox_status",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "event_key", name="uq_push_outbox_channel_event"),
    )
    op.create_index("ix_push_outbox_status_due", "push_outbox", ["status", "next_retry_at"])
    op.create_table(
        "onchain_features",
        _id(),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("chain", sa.String(20), nullable=False),
        sa.Column("token_ca", sa.String(100), nullable=False),
        sa.Column("features", _JSON, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "chain", "token_ca", name="uq_onchain_provider_token"),
    )
    op.create_table(
        "signal_dedup_keys",
        _id(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        *(sa.Column(f"band_{i}", sa.String(4), nullable=True) for i in range(4)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_signal_dedup_kind_key"),
    )
    for column in ("band_0", "band_1", "band_2", "band_3", "expires_at"):
        op.create_index(f"ix_signal_dedup_keys_{column}", "signal_dedup_keys", [column])
    op.create_table(
        "signal_checkpoints",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("position", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("signal_checkpoints")
    for column in ("band_0", "band_1", "band_2", "band_3", "expires_at"):
        op.drop_index(f"ix_signal_dedup_keys_{column}", table_name="signal_dedup_keys")
    op.drop_table("signal_dedup_keys")
    op.drop_table("onchain_features")
    op.drop_index("ix_push_outbox_status_due", table_name="push_outbox")
    op.drop_table("push_outbox")
    op.drop_table("signals")
    op.drop_index("ix_events_last_ts", table_name="events")
    op.drop_table("events")
