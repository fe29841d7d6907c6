"""The store on an empty SQLite file and an empty PostgreSQL database (real servers)."""

import hashlib

from sqlalchemy import select, text

from plugboard.engine.tokens import create_token
from plugboard.store import Store, Token

TABLES = {
    "alembic_version",
    "meta",
    "hosts",
    "tokens",
    "events",
    "mac_pools",
    "templates",
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
        assert db.scalar(text("SELECT version_num FROM alembic_version")) == "0005"
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
