"""Initial schema: the original design's tables plus accounts, post kinds and ingest_state.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=15), nullable=False),
        sa.Column("x_user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("x_user_id"),
    )
    op.create_table(
        "exogenous_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("event_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intensity", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("event_end > event_start", name="ck_events_end_after_start"),
        sa.CheckConstraint("intensity >= 0 AND intensity <= 1", name="ck_events_intensity"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("exogenous_events", schema=None) as batch_op:
        batch_op.create_index("idx_event_time_range", ["event_start", "event_end"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_exogenous_events_event_end"), ["event_end"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_exogenous_events_event_start"), ["event_start"], unique=False
        )

    op.create_table(
        "features",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("count_rule", sa.String(length=64), nullable=False),
        sa.Column("reference_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lag_1h", sa.Integer(), nullable=True),
        sa.Column("lag_6h", sa.Integer(), nullable=True),
        sa.Column("lag_12h", sa.Integer(), nullable=True),
        sa.Column("lag_24h", sa.Integer(), nullable=True),
        sa.Column("lag_7d", sa.Integer(), nullable=True),
        sa.Column("rolling_mean_24h", sa.Float(), nullable=True),
        sa.Column("rolling_std_24h", sa.Float(), nullable=True),
        sa.Column("rolling_mean_7d", sa.Float(), nullable=True),
        sa.Column("rolling_std_7d", sa.Float(), nullable=True),
        sa.Column("hour_of_day", sa.Integer(), nullable=False),
        sa.Column("day_of_week", sa.Integer(), nullable=False),
        sa.Column("is_weekend", sa.Boolean(), nullable=False),
        sa.Column("event_intensity", sa.Float(), nullable=False),
        sa.Column("events_in_window", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_id", "count_rule", "reference_time", name="uq_features_account_rule_time"
        ),
    )
    with op.batch_alter_table("features", schema=None) as batch_op:
        batch_op.create_index("idx_reference_time", ["reference_time"], unique=False)

    op.create_table(
        "ingest_state",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("newest_id", sa.String(length=64), nullable=True),
        sa.Column("oldest_id", sa.String(length=64), nullable=True),
        sa.Column("pagination_token", sa.String(length=256), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "endpoint", name="uq_ingest_state_account_endpoint"),
    )
    op.create_table(
        "model_metadata",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("training_start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("training_end_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hyperparameters", sa.Text(), nullable=True),
        sa.Column("rmse", sa.Float(), nullable=True),
        sa.Column("mae", sa.Float(), nullable=True),
        sa.Column("mape", sa.Float(), nullable=True),
        sa.Column("log_likelihood", sa.Float(), nullable=True),
        sa.Column("artifact_path", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.create_index(
            "idx_model_name_version", ["model_name", "model_version"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_metadata_model_name"), ["model_name"], unique=False
        )

    op.create_table(
        "raw_tweets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tweet_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ingest_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('original', 'reply', 'quote', 'repost', 'unknown')", name="ck_raw_tweets_kind"
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "tweet_id", name="uq_raw_tweets_account_tweet"),
    )
    with op.batch_alter_table("raw_tweets", schema=None) as batch_op:
        batch_op.create_index(
            "idx_created_at_not_deleted", ["account_id", "created_at", "is_deleted"], unique=False
        )
        batch_op.create_index("ix_raw_tweets_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_raw_tweets_tweet_id", ["tweet_id"], unique=False)

    op.create_table(
        "time_buckets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bucket_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granularity", sa.String(length=16), nullable=False),
        sa.Column("tweet_count", sa.Integer(), nullable=False),
        sa.Column("original_count", sa.Integer(), nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        sa.Column("quote_count", sa.Integer(), nullable=False),
        sa.Column("repost_count", sa.Integer(), nullable=False),
        sa.Column("unknown_count", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "granularity IN ('hourly', 'daily')", name="ck_time_buckets_granularity"
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_id", "granularity", "bucket_start", name="uq_bucket_granularity"
        ),
    )
    with op.batch_alter_table("time_buckets", schema=None) as batch_op:
        batch_op.create_index(
            "idx_bucket_start_granularity", ["bucket_start", "granularity"], unique=False
        )

    op.create_table(
        "forecasts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "model_metadata_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("forecast_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("predicted_count", sa.Float(), nullable=False),
        sa.Column("lower_bound_95", sa.Float(), nullable=True),
        sa.Column("upper_bound_95", sa.Float(), nullable=True),
        sa.Column("actual_count", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_metadata_id"], ["model_metadata.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "model_metadata_id", "forecast_time", "target_time", name="uq_forecasts_model_times"
        ),
    )
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.create_index("idx_forecast_target", ["forecast_time", "target_time"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_forecasts_model_metadata_id"), ["model_metadata_id"], unique=False
        )
        batch_op.create_index("ix_forecasts_target_time", ["target_time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.drop_index("ix_forecasts_target_time")
        batch_op.drop_index(batch_op.f("ix_forecasts_model_metadata_id"))
        batch_op.drop_index("idx_forecast_target")

    op.drop_table("forecasts")
    with op.batch_alter_table("time_buckets", schema=None) as batch_op:
        batch_op.drop_index("idx_bucket_start_granularity")

    op.drop_table("time_buckets")
    with op.batch_alter_table("raw_tweets", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_tweets_tweet_id")
        batch_op.drop_index("ix_raw_tweets_created_at")
        batch_op.drop_index("idx_created_at_not_deleted")

    op.drop_table("raw_tweets")
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_metadata_model_name"))
        batch_op.drop_index("idx_model_name_version")

    op.drop_table("model_metadata")
    op.drop_table("ingest_state")
    with op.batch_alter_table("features", schema=None) as batch_op:
        batch_op.drop_index("idx_reference_time")

    op.drop_table("features")
    with op.batch_alter_table("exogenous_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exogenous_events_event_start"))
        batch_op.drop_index(batch_op.f("ix_exogenous_events_event_end"))
        batch_op.drop_index("idx_event_time_range")

    op.drop_table("exogenous_events")
    op.drop_table("accounts")
