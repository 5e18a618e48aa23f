"""Sentiment: registered model versions, predictions, labelled samples, retrain decisions.

Revision ID: 0004_sentiment
Revises: 0002_volume
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sentiment"
down_revision = "0002_volume"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LABEL_CHECK = "label IN ('negative', 'neutral', 'positive')"


def upgrade() -> None:
    op.create_table(
        "sentiment_models",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("base_model", sa.String(length=512), nullable=False),
        sa.Column("dev_macro_recall", sa.Float(), nullable=True),
        sa.Column("dev_accuracy", sa.Float(), nullable=True),
        sa.Column("dev_macro_f1", sa.Float(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("n_train", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_name", "version", name="uq_sentiment_models_name_version"),
    )
    op.create_table(
        "sentiment_predictions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("tweet_id", sa.BigInteger(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("p_negative", sa.Float(), nullable=False),
        sa.Column("p_neutral", sa.Float(), nullable=False),
        sa.Column("p_positive", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("n_words", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(LABEL_CHECK, name="ck_sentiment_predictions_label"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_id", "tweet_id", "model_version", name="uq_sentiment_predictions_post"
        ),
    )
    with op.batch_alter_table("sentiment_predictions", schema=None) as batch_op:
        batch_op.create_index("ix_sentiment_predictions_created_at", ["created_at"], unique=False)
    op.create_table(
        "labelled_samples",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("used_in_training", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(LABEL_CHECK, name="ck_labelled_samples_label"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("text_sha256"),
    )
    op.create_table(
        "retrain_decisions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("triggers", sa.Text(), nullable=False),
        sa.Column("fired", sa.String(length=256), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("champion_macro_recall", sa.Float(), nullable=True),
        sa.Column("challenger_macro_recall", sa.Float(), nullable=True),
        sa.Column("promoted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("retrain_decisions")
    op.drop_table("labelled_samples")
    with op.batch_alter_table("sentiment_predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_sentiment_predictions_created_at")
    op.drop_table("sentiment_predictions")
    op.drop_table("sentiment_models")
