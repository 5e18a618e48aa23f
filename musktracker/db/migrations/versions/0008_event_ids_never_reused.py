"""Exogenous event ids are never reused on SQLite.

SQLite gives a plain INTEGER PRIMARY KEY the largest id plus one, so deleting the newest
event and adding another handed out the same id, and a client retrying its DELETE removed
the new event. AUTOINCREMENT makes SQLite remember the highest id ever used. PostgreSQL's
identity sequences never reuse ids: nothing changes there.

Revision ID: 0008_event_ids_never_reused
Revises: 0007_model_fit_key
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008_event_ids_never_reused"
down_revision = "0007_model_fit_key"
branch_labels = None
depends_on = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "exogenous_events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
