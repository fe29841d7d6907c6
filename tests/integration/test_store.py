"""The store on an empty SQLite file and an empty PostgreSQL database (real servers)."""

import hashlib

from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from plugboard.engine import audit, tokens, users
from plugboard.engine.tokens import Principal, create_token
from plugboard.store import Store, Token, User
from plugboard.store.db import MIGRATIONS

TABLES = {
    "alembic_version",
    "meta",
    "hosts",
    "users",
    "tokens",
    "grants",
    "events",
    "mac_pools",
    "templates",
    "profiles",
    "operations",
    "vnic_notes",
    "mac_reservations",
}


def test_migrations_create_the_schema_on_an_empty_database(database_url: str):
    store = Store(database_url)
    assert store.tables() == set()

    store.migrate()
    store.migrate()  # a second start finds nothing to do

    assert store.tables() == TABLES
    with store.session() as db:
        assert db.scalar(text("SELECT version_num FROM alembic_version")) == "0009"
        # the default MAC pool: one locally administered, unicast range
        pool = db.execute(text("SELECT name, ranges, allow_duplicates FROM mac_pools")).one()
        assert tuple(pool) == ("default", "56:6f:70:00:00:00-56:6f:70:ff:ff:ff", False)
    store.dispose()


def test_tokens_are_stored_hashed(database_url: str):
    store = Store(database_url)
    store.migrate()
    with store.session() as db:
        _, secret = create_token(db, "ci", "user")

    with store.session() as db:
        row = db.scalar(select(Token).where(Token.name == "ci"))
        columns = [str(v) for v in db.execute(text("SELECT * FROM tokens")).one()]
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value for value in columns)
    store.dispose()


def migrate_to(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_an_audit_log_from_0005_keeps_its_events_and_takes_data(database_url: str):
    store = Store(database_url)
    migrate_to(store, "0005")
    with store.session() as db:  # as plugboard wrote them before 0006
        db.execute(
            text(
                "INSERT INTO events (at, actor, action, target, status, result, duration_ms) "
                "VALUES (CURRENT_TIMESTAMP, 'admin', 'POST /hosts', 'hosts/h1', 201, 'ok', 1.25)"
            )
        )
    store.migrate()

    revoked = f"revoked token '{'n' * 64}'"  # the longest name a token can have
    with store.session() as db:
        audit.record(db, actor=revoked, action="PATCH /x", target="hosts/h1/vms/v/nics/nic1",
                     status=200, result="ok", duration_ms=2.0,
                     data={"vnic": "nic1", "plan": [{"kind": "live-update"}]})  # fmt: skip
    with store.session() as db:
        page = audit.list_events(
            db,
            Principal(0, "admin", "admin"),
            audit.EventFilter(target="hosts/h1"),
            limit=10,
            offset=0,
        )
    assert [(e.actor, e.data) for e in page.items] == [
        (revoked, {"vnic": "nic1", "plan": [{"kind": "live-update"}]}),
        ("admin", None),
    ]
    store.dispose()


def test_0007_gives_admin_tokens_to_the_user_admin_and_each_user_token_a_user(database_url: str):
    store = Store(database_url)
    migrate_to(store, "0006")
    rows = [  # as plugboard wrote them before users: the first admin token was renamed
        ("root", "admin", None),
        ("ops", "admin", "CURRENT_TIMESTAMP"),  # revoked
        ("ci", "user", None),
        ("admin", "user", None),  # a read-only token that took the name `admin`
    ]
    with store.session() as db:
        for i, (name, role, revoked) in enumerate(rows):
            db.execute(
                text(
                    "INSERT INTO tokens (name, role, token_hash, created_at, revoked_at) "
                    f"VALUES (:name, :role, :hash, CURRENT_TIMESTAMP, {revoked or 'NULL'})"
                ),
                {"name": name, "role": role, "hash": f"{i:064x}"},
            )
    store.migrate()

    with store.session() as db:
        owners = db.execute(
            text(
                "SELECT t.name, t.role, u.username, u.role, u.enabled, u.password_hash "
                "FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id"
            )
        ).all()
        assert [tuple(o) for o in owners] == [
            ("root", "admin", "admin", "admin", True, None),
            ("ops", "admin", "admin", "admin", True, None),
            ("ci", "user", "ci", "user", True, None),
            ("admin", "user", "admin-2", "user", True, None),
        ]
        # Each token acts as before: the same name and role, admin tokens still admin.
        assert tokens.authenticate_hash(db, f"{0:064x}") == Principal(1, "admin", "admin", "root")
        ci = tokens.authenticate_hash(db, f"{2:064x}")
        assert (ci.user, ci.role, ci.token) == ("ci", "user", "ci")
        assert list(db.scalars(tokens.active_admins())) == ["root"]
    store.dispose()


def test_0007_on_a_store_without_tokens_makes_the_user_admin(database_url: str):
    store = Store(database_url)
    store.migrate()
    with store.session() as db:
        listed = [(u.username, u.role, u.enabled, u.has_password) for u in users.list_users(db)]
        assert listed == [("admin", "admin", True, False)]
        # the first admin token (the service's first start) is that user's
        token, _ = tokens.create_token(db, "admin", "admin")
        assert token.user_id == db.scalar(select(User.id).where(User.username == "admin"))
    store.dispose()
