"""Templates say how many free PCI slots for hot-plugged cards their VMs get.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("templates") as table:
        table.add_column(
            sa.Column("hotplug_slots", sa.Integer(), nullable=False, server_default="8")
        )


def downgrade() -> None:
    with op.batch_alter_table("templates") as table:
        table.drop_column("hotplug_slots")
