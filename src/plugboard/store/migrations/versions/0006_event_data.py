"""Audit events carry data (a vNIC change's plan, the vNIC before and after, its outcome), and
an actor long enough for "revoked token '<a 64-character name>'".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("data", sa.JSON(), nullable=True))
    # SQLite keeps no length of a VARCHAR (and would copy the whole log to change it).
    if op.get_bind().dialect.name != "sqlite":
        _actor_length(64, 128)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("data")
    if op.get_bind().dialect.name != "sqlite":
        _actor_length(128, 64)


def _actor_length(old: int, new: int) -> None:
    op.alter_column(
        "events",
        "actor",
        type_=sa.String(new),
        existing_type=sa.String(old),
        existing_nullable=False,
    )
