"""API tokens: created at random for a user, kept as SHA-256, shown in clear once; and the
Principal, who asks."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from plugboard.engine import audit
from plugboard.engine.admins import active_admins, check_admins_left, enabled_admins, lock_admins
from plugboard.errors import (
    RoleAboveUser,
    TokenExists,
    TokenNotFound,
    Unauthorized,
    UserNotFound,
)
from plugboard.store import on_commit
from plugboard.store.models import Grant, Token, User, utcnow

PREFIX = "pb_"


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, the role they act with, and how they showed who they are.

    `role` is the lesser of the user's role and the token's, so a token never does more than
    its user may, and demoting a user narrows their tokens at once. `token` is the token's
    name, or None for a web session signed in with a password. A policy (`can(principal,
    action, object)`) hangs off `user_id`/`user`; the role is what it asks first."""

    user_id: int
    user: str
    role: str
    token: str | None = None
    # (object, role) of each of the user's grants (plugboard.engine.policy); none for admins,
    # who need none.
    grants: frozenset[tuple[str, str]] = frozenset()
    # A token of role `user` of an admin user: it sees everything and changes nothing (a
    # read-only token, for monitoring), whatever grants there are.
    reads_all: bool = False

    @property
    def name(self) -> str:
        """As the audit log names who asked: the user."""
        return self.user

    @property
    def via(self) -> str:
        """How they showed who they are, for the audit log: "token NAME" or "password"."""
        return f"token {self.token}" if self.token is not None else "password"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def described(self) -> str:
        """As a refusal names them: "user 'alice'" or "token 'ci' of user 'alice'"."""
        if self.token is None:
            return f"user '{self.user}'"
        return f"token '{self.token}' of user '{self.user}'"


def acting_role(user_role: str, token_role: str) -> str:
    """The lesser of two roles: `user` unless both are `admin`."""
    return "admin" if user_role == token_role == "admin" else "user"


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
        """Forget the token `name`."""
        self._drop(lambda who: who.token == name)

    def forget_user(self, username: str) -> None:
        """Forget every token of a user (disabled, demoted or removed)."""
        self._drop(lambda who: who.user == username)

    def _drop(self, match: Callable[[Principal], bool]) -> None:
        with self._lock:
            self.generation += 1
            self._seen = {h: e for h, e in self._seen.items() if not match(e[0])}


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
    found = session.execute(
        select(Token, User)
        .join(User, Token.user_id == User.id)
        .where(Token.token_hash == token_hash)
    ).one_or_none()
    if found is None:
        raise Unauthorized(
            "the token is not known; check it or create one with `plugboard token-create`"
        )
    token, user = found
    if token.revoked_at is not None:
        raise Unauthorized(f"the token '{token.name}' was revoked")
    if not user.enabled:
        raise Unauthorized(f"the user '{user.username}' of the token '{token.name}' is disabled")
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now  # at most once a minute: reads stay reads
    role = acting_role(user.role, token.role)
    grants = grants_of(session, user.id, role)
    reads_all = user.role == "admin" and role == "user"
    return Principal(user.id, user.username, role, token.name, grants, reads_all)


def grants_of(session: Session, user_id: int, role: str) -> frozenset[tuple[str, str]]:
    """The user's grants, (object, role) each; an admin needs none and none are read."""
    if role == "admin":
        return frozenset()
    rows = session.execute(select(Grant.object, Grant.role).where(Grant.user_id == user_id))
    return frozenset((obj, grant_role) for obj, grant_role in rows)


def token_label(session: Session, secret: str) -> str:
    """Who sent `secret`, as the audit log names them (never the secret): its user,
    "revoked token 'NAME'" or "invalid token". A read only: no `last_used_at`."""
    found = session.execute(
        select(Token, User.enabled, User.username)
        .join(User, Token.user_id == User.id)
        .where(Token.token_hash == hash_token(secret))
    ).one_or_none()
    if found is None:
        return "invalid token"
    token, enabled, username = found
    if token.revoked_at is not None:
        return f"revoked token '{token.name}'"
    return username if enabled else f"disabled user's token '{token.name}'"


def create_token(
    session: Session, name: str, role: str, user: str | None = None
) -> tuple[Token, str]:
    """Make a token of `user` (by default the first admin user); returns the row and the
    secret (never stored). Its role may not be more than its user's."""
    if session.scalar(select(Token).where(Token.name == name)) is not None:
        raise TokenExists(f"a token named '{name}' exists; choose another name")
    owner = first_admin_user(session) if user is None else _owner(session, user)
    if acting_role(owner.role, role) != role:
        raise RoleAboveUser(
            f"user '{owner.username}' has role '{owner.role}': their tokens cannot be "
            f"'{role}'; make the user admin first, or ask for role '{owner.role}'",
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    token = Token(
        name=name, role=role, user_id=owner.id, token_hash=hash_token(secret), created_at=utcnow()
    )
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session) -> list[tuple[Token, str]]:
    """Every token, oldest first, with its user's name."""
    rows = session.execute(
        select(Token, User.username).join(User, Token.user_id == User.id).order_by(Token.id)
    )
    return [(token, username) for token, username in rows]


def first_admin_user(session: Session) -> User:
    """The oldest enabled admin user; the user `admin` (or `admin-2`, ...) made if none is
    (a store that was just created)."""
    found = session.scalars(enabled_admins()).first()
    if found is None:
        found = User(username=_free(session, User.username, "admin"), role="admin", enabled=True)
        session.add(found)
        session.flush()
    return found


def _owner(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(f"no user named '{username}'; see `plugboard user-list`")
    return user


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
    both pass (plugboard.engine.users.lock_admins says how)."""
    lock_admins(session)
    token.revoked_at = utcnow()
    check_admins_left(session, f"'{token.name}' is")


def ensure_admin_token(session: Session, token_file: Path) -> str:
    """First start: make an admin token and write it to `token_file` (0600); later starts
    reuse the one in the file while it is valid."""
    if token_file.exists():
        secret = token_file.read_text().strip()
        token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
        if token is not None and token.name in session.scalars(active_admins()).all():
            return token.name
    token, secret = create_token(session, _free(session, Token.name, "admin"), "admin")
    write_token_file(token_file, secret)
    return token.name


def reset_admin_token(session: Session, token_file: Path) -> Token:
    """Recovery for whoever can read the store (root on the service's machine) when no admin
    token is left or its secret is lost: a fresh admin token, in the token file once this
    commits (never a secret the store does not know), and in the audit log. A running
    service authenticates it from the store: its cache only holds tokens it has seen."""
    name = _free(session, Token.name, f"admin-recovery-{utcnow():%Y%m%dT%H%M%SZ}")
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


def _free(session: Session, column: InstrumentedAttribute[str], base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever no row has in `column` (a name)."""
    names = set(session.scalars(select(column)))
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
