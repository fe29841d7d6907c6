"""API tokens: created at random, kept as SHA-256, shown in clear once."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugboard.errors import Forbidden, TokenExists, TokenNotFound, Unauthorized
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
    token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
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


def revoke_token(session: Session, cache: TokenCache, name: str) -> Token:
    """Revoke a token: no longer good from the next request, once this commits."""
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        raise TokenNotFound(f"no token named '{name}'")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    on_commit(session, lambda: cache.forget(name))
    return token


def ensure_admin_token(session: Session, token_file: Path) -> str:
    """First start: make an admin token and write it to `token_file` (0600); later starts
    reuse the one in the file while it is valid."""
    if token_file.exists():
        secret = token_file.read_text().strip()
        token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
        if token is not None and token.revoked_at is None and token.role == "admin":
            return token.name
    names = set(session.scalars(select(Token.name)))
    name = next(n for n in ("admin", *(f"admin-{i}" for i in range(2, 10_000))) if n not in names)
    token, secret = create_token(session, name, "admin")
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = token_file.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text(secret + "\n")
    tmp.replace(token_file)
    return token.name
