"""API tokens: created at random, kept as SHA-256, shown in clear once."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from plugboard.engine import audit
from plugboard.errors import Forbidden, LastAdminToken, TokenExists, TokenNotFound, Unauthorized
from plugboard.store import on_commit
from plugboard.store.models import Token, utcnow

PREFIX = "pb_"


@dataclass(frozen=True)
class Principal:
    """Who is asking: the token's name and role (per-network grants will hang off the name)."""

    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(f"token '{self.name}' has role '{self.role}'; this needs 'admin'")


class TokenCache:
    """Tokens seen in the last minute, so a request needs no database read to say who asks.
    A revocation through this service forgets the token at once (`forget`); `last_used_at`
    is written at most once a minute anyway."""

    TTL = 60.0

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every forget: a read that raced it is not kept

    def get(self, secret: str | None) -> Principal | None:
        if not secret:
            return None
        with self._lock:
            entry = self._seen.get(hash_token(secret))
        if entry is None or time.monotonic() - entry[1] > self.TTL:
            return None
        return entry[0]

    def put(self, secret: str, who: Principal, generation: int) -> None:
        """Keep what a database read found, unless a token was revoked since it began."""
        with self._lock:
            if generation == self.generation:
                self._seen[hash_token(secret)] = (who, time.monotonic())

    def forget(self, name: str) -> None:
        with self._lock:
            self.generation += 1
            self._seen = {h: e for h, e in self._seen.items() if e[0].name != name}


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(session: Session, secret: str | None) -> Principal:
    if not secret:
        raise Unauthorized(
            "send 'Authorization: Bearer <token>'; `plugboard` reads it from "
            "~/.config/plugboard/token"
        )
    return authenticate_hash(session, hash_token(secret))


def authenticate_hash(session: Session, token_hash: str) -> Principal:
    """Who holds the token whose SHA-256 is `token_hash`: how a web session, which keeps the
    hash and never the secret, asks again whether its token is still good."""
    token = session.scalar(select(Token).where(Token.token_hash == token_hash))
    if token is None:
        raise Unauthorized(
            "the token is not known; check it or create one with `plugboard token-create`"
        )
    if token.revoked_at is not None:
        raise Unauthorized(f"the token '{token.name}' was revoked")
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now  # at most once a minute: reads stay reads
    return Principal(token.name, token.role)


def token_label(session: Session, secret: str) -> str:
    """Who sent `secret`, as the audit log names them (never the secret): the token's name,
    "revoked token 'NAME'" or "invalid token". A read only: no `last_used_at`."""
    token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if token is None:
        return "invalid token"
    return token.name if token.revoked_at is None else f"revoked token '{token.name}'"


def create_token(session: Session, name: str, role: str) -> tuple[Token, str]:
    """Make a token; returns the row and the secret (never stored)."""
    if session.scalar(select(Token).where(Token.name == name)) is not None:
        raise TokenExists(f"a token named '{name}' exists; choose another name")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = Token(name=name, role=role, token_hash=hash_token(secret), created_at=utcnow())
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session) -> list[Token]:
    return list(session.scalars(select(Token).order_by(Token.id)))


def active_admins() -> Select[str]:
    """The names of the admin tokens that are not revoked, oldest first."""
    return (
        select(Token.name)
        .where(Token.role == "admin", Token.revoked_at.is_(None))
        .order_by(Token.id)
    )


def revoke_token(session: Session, cache: TokenCache, name: str) -> Token:
    """Revoke a token: no longer good from the next request, once this commits. The last
    admin token is kept: without one, no token could ever be made again over the API."""
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        raise TokenNotFound(f"no token named '{name}'")
    if token.revoked_at is None:
        if token.role == "admin":
            _revoke_admin(session, token)
        else:
            token.revoked_at = utcnow()
    on_commit(session, lambda: cache.forget(name))
    return token


def _revoke_admin(session: Session, token: Token) -> None:
    """Revoke an admin token unless no other is left; two revokes of the last two must not
    both pass. PostgreSQL: the admin rows are locked first (FOR UPDATE, in id order, so two
    revokes cannot deadlock): a second revoke waits for the first to end, then reads it.
    SQLite has no row locks (FOR UPDATE is a no-op) and pysqlite begins the transaction at
    its first write: the flush's UPDATE takes the database's write lock, so the count after
    it sees every revoke committed before."""
    session.scalars(active_admins().with_for_update()).all()
    token.revoked_at = utcnow()
    session.flush()
    if session.scalars(active_admins()).first() is None:
        raise LastAdminToken(
            f"'{token.name}' is the last admin token; create another admin token first: "
            "plugboard token-create --name NAME --role admin"
        )


def ensure_admin_token(session: Session, token_file: Path) -> str:
    """First start: make an admin token and write it to `token_file` (0600); later starts
    reuse the one in the file while it is valid."""
    if token_file.exists():
        secret = token_file.read_text().strip()
        token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
        if token is not None and token.revoked_at is None and token.role == "admin":
            return token.name
    token, secret = create_token(session, _free_name(session, "admin"), "admin")
    write_token_file(token_file, secret)
    return token.name


def reset_admin_token(session: Session, token_file: Path) -> Token:
    """Recovery for whoever can read the store (root on the service's machine) when no admin
    token is left or its secret is lost: a fresh admin token, in the token file once this
    commits (never a secret the store does not know), and in the audit log. A running
    service authenticates it from the store: its cache only holds tokens it has seen."""
    name = _free_name(session, f"admin-recovery-{utcnow():%Y%m%dT%H%M%SZ}")
    token, secret = create_token(session, name, "admin")
    audit.record(
        session,
        actor=local_user(),
        action="admin-token --reset",
        target=f"tokens/{name}",
        status=0,
        result="ok",
        duration_ms=0.0,
        detail=f"a new admin token, written to {token_file}",
    )
    on_commit(session, lambda: write_token_file(token_file, secret))
    return token


def local_user() -> str:
    """Who runs a command on the store's machine, as the audit log names them: 'local:'
    cannot begin a token's name, so it is never taken for one."""
    uid = os.geteuid()
    try:
        return f"local:{pwd.getpwuid(uid).pw_name}"
    except KeyError:  # a uid without a passwd entry (containers)
        return f"local:{uid}"


def _free_name(session: Session, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever no token has."""
    names = set(session.scalars(select(Token.name)))
    return next(n for n in (base, *(f"{base}-{i}" for i in range(2, 10_000))) if n not in names)


def write_token_file(token_file: Path, secret: str) -> None:
    """Write the secret mode 0600 in a 0700 directory, replacing the file in one step: a
    reader sees the old token or the new, never half of one."""
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = token_file.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text(secret + "\n")
    tmp.replace(token_file)
