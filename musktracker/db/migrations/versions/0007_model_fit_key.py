"""A unique fit key on model_metadata, so concurrent forecasts share one fitted model.

Two API workers (or the worker and the CLI) forecasting the same account and moment used to
both find no fitted model, both fit one and both insert a model_metadata row, and so store
every forecast hour twice. A forecast fit now carries a key (model, training span and
hyperparameters) that is unique per account and is inserted with INSERT ... ON CONFLICT DO
NOTHING; the loser of the race reads the winner's row. Backtest rows keep a NULL key (NULLs
never conflict).

Revision ID: 0007_model_fit_key
Revises: 0006_api
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_model_fit_key"
down_revision = "0006_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fit_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "uq_model_metadata_fit_key", ["account_id", "fit_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.drop_index("uq_model_metadata_fit_key")
        batch_op.drop_column("fit_key")
