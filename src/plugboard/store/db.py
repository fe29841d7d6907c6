"""The store: engine, sessions, and migrations applied at start."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def on_commit(session: Session, action: Callable[[], object]) -> None:
    """Run `action` once the session's transaction has committed, never if it rolls back: what
    lives outside the database (the host connections) follows what the database holds."""
    session.info.setdefault("on_commit", []).append(action)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    for action in session.info.pop("on_commit", []):
        action()


@event.listens_for(Session, "after_rollback")
def _drop_on_commit(session: Session) -> None:
    session.info.pop("on_commit", None)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    # WAL's recommended level: commits stay atomic and the database consistent on a crash;
    # only the last commits before a power loss may be lost. Saves an fsync per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def private_file(database: Path) -> None:
    """The SQLite store only for the service's user: it holds the hashes of passwords and
    tokens. Made mode 0600 in a directory made 0700 (SQLite gives its -wal and -shm files
    the database file's mode); an existing file, or -wal or -shm, that others may read is
    made 0600, and the log says so. An existing directory is left as it is: it may be
    shared (/var/lib, a home directory)."""
    if not database.parent.exists():
        database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        database.parent.chmod(0o700)  # whatever the umask
    os.close(os.open(database, os.O_CREAT | os.O_RDWR, 0o600))
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                path.chmod(0o600)
                log.warning("the store file %s was mode %04o, now 0600: only its owner may "
                            "read the hashes of passwords and tokens", path, mode)  # fmt: skip
        except FileNotFoundError:
            continue
        except OSError as err:  # not the file's owner: say so, and go on
            log.warning("the store file %s may be read by others: %s", path, err)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # Each operation may hold a connection for its advisory lock besides the one it writes
    # the journal with: room for every host thread of a busy service.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


class StoreInUse(RuntimeError):
    """Another service process has this SQLite store: replicas need PostgreSQL."""


class Store:
    """One database: `session()` for a unit of work, `migrate()` to bring the schema up,
    `lock(key)` to serialise work across the service processes that share it."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        # SQLite: one service process per file (`claim`), its own threads serialise it.
        self.local = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._claim: int | None = None

    def claim(self) -> None:
        """Be the only service on a SQLite file (an exclusive lock on a file beside it, held
        until `dispose`): SQLite cannot serialise two processes' changes to one VM, nor hand
        out MACs safely between them. PostgreSQL stores take any number of replicas."""
        database = self.engine.url.database
        if not self.local or not database or database == ":memory:":
            return
        fd = os.open(f"{database}.serve-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUse(
                f"another plugboard service uses the SQLite store {database}; stop it, or run "
                "replicas on PostgreSQL (PLUGBOARD_DATABASE_URL=postgresql://...)"
            ) from None
        self._claim = fd

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold `key` against every service process on this store: a PostgreSQL advisory lock
        on a connection kept for the purpose (a process that dies lets go of it). A SQLite
        store has one process (`claim`): its own threads' locks suffice, nothing is done."""
        if self.local:
            yield
            return
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": number})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})
                connection.commit()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()
        if self._claim is not None:
            os.close(self._claim)  # lets go of the lock
            self._claim = None
