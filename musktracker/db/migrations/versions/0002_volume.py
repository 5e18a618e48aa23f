"""Volume models: per-window backtest results, proper-score columns on model_metadata and
detected regime shifts.

Revision ID: 0002_volume
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_volume"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NEW_METADATA_COLUMNS = (
    "crps",
    "log_score",
    "coverage_95",
    "total_mae",
    "total_crps",
    "fit_seconds",
)


def upgrade() -> None:
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        for name in _NEW_METADATA_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("backtest_windows", sa.Integer(), nullable=True))

    op.create_table(
        "backtest_results",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("model_metadata_id", _ID, nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("train_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rmse", sa.Float(), nullable=False),
        sa.Column("mae", sa.Float(), nullable=False),
        sa.Column("mape", sa.Float(), nullable=False),
        sa.Column("crps", sa.Float(), nullable=False),
        sa.Column("log_score", sa.Float(), nullable=False),
        sa.Column("coverage_95", sa.Float(), nullable=False),
        sa.Column("total_actual", sa.Integer(), nullable=False),
        sa.Column("total_mean", sa.Float(), nullable=False),
        sa.Column("total_mae", sa.Float(), nullable=False),
        sa.Column("total_mape", sa.Float(), nullable=False),
        sa.Column("total_crps", sa.Float(), nullable=False),
        sa.Column("total_coverage_95", sa.Float(), nullable=False),
        sa.Column("fit_seconds", sa.Float(), nullable=False),
        sa.Column("after_regime_shift", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["model_metadata_id"], ["model_metadata.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "model_name", "window_start", name="uq_backtest_window"),
    )
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.create_index(
            "idx_backtest_account_model_end", ["account_id", "model_name", "window_end"]
        )

    op.create_table(
        "regime_shifts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("count_rule", sa.String(length=64), nullable=False),
        sa.Column("change_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("level_before", sa.Float(), nullable=True),
        sa.Column("level_after", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_id", "rule", "count_rule", "change_at", name="uq_regime_shift"
        ),
        sa.CheckConstraint("direction IN ('up', 'down')", name="ck_regime_shifts_direction"),
    )


def downgrade() -> None:
    op.drop_table("regime_shifts")
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.drop_index("idx_backtest_account_model_end")
    op.drop_table("backtest_results")
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.drop_column("backtest_windows")
        for name in reversed(_NEW_METADATA_COLUMNS):
            batch_op.drop_column(name)
