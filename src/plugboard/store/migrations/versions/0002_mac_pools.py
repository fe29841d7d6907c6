"""MAC pools, with the default pool: a locally administered range.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_RANGE = "56:6f:70:00:00:00-56:6f:70:ff:ff:ff"


def upgrade() -> None:
    pools = op.create_table(
        "mac_pools",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("ranges", sa.Text(), nullable=False),
        sa.Column("allow_duplicates", sa.Boolean(), nullable=False),
    )
    op.bulk_insert(
        pools, [{"id": 1, "name": "default", "ranges": DEFAULT_RANGE, "allow_duplicates": False}]
    )


def downgrade() -> None:
    op.drop_table("mac_pools")
