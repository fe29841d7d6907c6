"""Grants (a user's role on a host, a VM or a network), and how each audited actor showed who
they were (`via`: "token NAME" or "password"), now that the actor is the user.

Events written before keep their actor (then the token's name) and have no `via`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from plugboard.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_grants_user_id_users"),
            nullable=False,
        ),
        sa.Column("object", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "object", "role", name="uq_grants"),
    )
    op.create_index("ix_grants_user_id", "grants", ["user_id"])
    op.create_index("ix_grants_object", "grants", ["object"])
    op.add_column("events", sa.Column("via", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("via")
    op.drop_index("ix_grants_object", "grants")
    op.drop_index("ix_grants_user_id", "grants")
    op.drop_table("grants")
