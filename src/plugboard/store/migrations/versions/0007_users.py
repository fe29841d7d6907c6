"""Users, and tokens that belong to them.

Every token gets an owner, so that what a token may do can be asked of a person:
- the user `admin` (role admin, enabled, no password: it signs in with its tokens, or with a
  password once `plugboard user-passwd admin` sets one) is made on every store, and owns every
  token of role `admin`, revoked or not;
- each token of role `user` gets a user of its own, named after the token (role user, enabled,
  no password), so a read-only token stays read-only and can be disabled alone. A token named
  `admin` of role user (possible only when the first admin token had another name) gets the
  user `admin-2`: the first free of NAME, NAME-2, NAME-3, ...

Nothing else changes: every token keeps its name, role, secret and dates, and works as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from plugboard.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer()),
    sa.column("username", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("role", sa.String()),
    sa.column("enabled", sa.Boolean()),
    sa.column("created_at", UTCDateTime()),
)
tokens = sa.table(
    "tokens",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("user_id", sa.Integer()),
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
    _give_tokens_owners(op.get_bind())
    with op.batch_alter_table("tokens") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            "fk_tokens_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_tokens_user_id", ["user_id"])


def _give_tokens_owners(bind: sa.Connection) -> None:
    taken: set[str] = set()

    def add_user(base: str, role: str) -> int:
        name = next(n for n in (base, *(f"{base}-{i}" for i in range(2, 10_000))) if n not in taken)
        taken.add(name)
        now = datetime.now(UTC)
        row = {"username": name, "role": role, "enabled": True, "created_at": now}
        bind.execute(users.insert().values(row))
        return bind.execute(sa.select(users.c.id).where(users.c.username == name)).scalar_one()

    admin = add_user("admin", "admin")
    bind.execute(tokens.update().where(tokens.c.role == "admin").values(user_id=admin))
    for token_id, name in bind.execute(
        sa.select(tokens.c.id, tokens.c.name).where(tokens.c.role != "admin").order_by(tokens.c.id)
    ).all():
        owner = add_user(name, "user")
        bind.execute(tokens.update().where(tokens.c.id == token_id).values(user_id=owner))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_user_id")
        batch.drop_constraint("fk_tokens_user_id_users", type_="foreignkey")
        batch.drop_column("user_id")
    op.drop_table("users")
