"""The operation journal, vNIC notes (baseline, drift, disconnected taps), MAC reservations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from plugboard.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("vm_uuid", sa.String(36), nullable=False),
        sa.Column("vm_name", sa.String(64), nullable=False),
        sa.Column("vnic", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("desired", sa.JSON(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_operations_vm", "operations", ["host", "vm_uuid", "state"])
    op.create_table(
        "vnic_notes",
        sa.Column("host", sa.String(64), primary_key=True),
        sa.Column("vm_uuid", sa.String(36), primary_key=True),
        sa.Column("vnic", sa.String(64), primary_key=True),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.Column("drift", sa.Text(), nullable=True),
        sa.Column("disconnected", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "mac_reservations",
        sa.Column("mac", sa.String(17), primary_key=True),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("vm_uuid", sa.String(36), nullable=False),
        sa.Column("vnic", sa.String(64), nullable=False),
        sa.Column("reserved_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mac_reservations")
    op.drop_table("vnic_notes")
    op.drop_index("ix_operations_vm", "operations")
    op.drop_table("operations")
