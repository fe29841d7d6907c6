"""Users: who may use plugboard, with a role (`admin` or `user`) and, for signing in on the
web, a password kept only as an argon2id hash (plugboard.engine.passwords).

The last enabled admin user stays one (plugboard.engine.admins): it cannot be disabled,
demoted or removed, nor can a change take away the last admin token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, object_session

from plugboard.engine import passwords
from plugboard.engine.admins import check_admins_left, lock_admins
from plugboard.engine.tokens import Principal, TokenCache, grants_of
from plugboard.errors import Unauthorized, UserExists, UserNotFound
from plugboard.store import on_commit
from plugboard.store.models import Grant, Token, User, utcnow

WRONG = "wrong username or password"  # the same words whichever was wrong: no user is revealed


@dataclass(frozen=True)
class UserView:
    """A user as the API and CLI show them: never the password or its hash."""

    username: str
    role: str
    enabled: bool
    has_password: bool
    tokens: int  # tokens not revoked
    created_at: datetime

    @classmethod
    def of(cls, user: User, tokens: int) -> UserView:
        return cls(
            user.username,
            user.role,
            user.enabled,
            user.password_hash is not None,
            tokens,
            user.created_at,
        )


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(f"no user named '{username}'; see `plugboard user-list`")
    return user


def view_user(session: Session, user: User) -> UserView:
    live = select(func.count()).where(Token.user_id == user.id, Token.revoked_at.is_(None))
    return UserView.of(user, session.scalar(live) or 0)


def list_users(session: Session) -> list[UserView]:
    counts = session.execute(
        select(Token.user_id, func.count())
        .where(Token.revoked_at.is_(None))
        .group_by(Token.user_id)
    )
    live: dict[int, int] = {user_id: n for user_id, n in counts}
    users = session.scalars(select(User).order_by(User.id))
    return [UserView.of(user, live.get(user.id, 0)) for user in users]


def create_user(session: Session, username: str, password: str | None, role: str) -> User:
    """A new enabled user; without a password they sign in with a token only."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"a user named '{username}' exists; choose another name")
    user = User(
        username=username,
        role=role,
        enabled=True,
        password_hash=None if password is None else passwords.hash_password(password),
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def update_user(
    session: Session,
    cache: TokenCache,
    username: str,
    *,
    password: str | None = None,
    role: str | None = None,
    enabled: bool | None = None,
) -> User:
    """Change what is given (None: unchanged). Demoting or disabling a user narrows or ends
    their tokens and web sessions from the next request, once this commits."""
    user = get_user(session, username)
    if password is not None:
        user.password_hash = passwords.hash_password(password)
    losing = (role == "user" and user.role == "admin") or (enabled is False and user.enabled)
    if losing:
        lock_admins(session)
    if role is not None:
        user.role = role
    if enabled is not None:
        user.enabled = enabled
    if losing:
        check_admins_left(session, f"'{username}' is")
    on_commit(session, lambda: cache.forget_user(username))
    return user


def remove_user(session: Session, cache: TokenCache, username: str) -> None:
    """Remove a user and their tokens (the audit log keeps what they did)."""
    user = get_user(session, username)
    lock_admins(session)
    session.execute(delete(Token).where(Token.user_id == user.id))
    session.execute(delete(Grant).where(Grant.user_id == user.id))
    session.delete(user)
    check_admins_left(session, f"'{username}' is")
    on_commit(session, lambda: cache.forget_user(username))


def sign_in(session: Session, username: str, password: str) -> Principal:
    """Who signs in with this username and password: 401 with the same words whether the
    user is unknown, has no password, is disabled or the password is wrong. A hash made
    with older parameters is made again with today's."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.password_hash is None:
        passwords.waste_time(password)  # as long as a real check: no user is revealed
        raise Unauthorized(WRONG)
    if not passwords.verify(user.password_hash, password):
        raise Unauthorized(WRONG)
    if not user.enabled:  # told only to whoever knows the password
        raise Unauthorized(f"the user '{username}' is disabled; ask an administrator")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return principal_of(user)


def principal_of(user: User) -> Principal:
    session = object_session(user)
    assert session is not None
    grants = grants_of(session, user.id, user.role)
    return Principal(user.id, user.username, user.role, None, grants)


def session_principal(session: Session, user_id: int) -> Principal:
    """Who a web session signed in with a password is now: 401 once the user is disabled or
    removed; their role as it is now."""
    user = session.get(User, user_id)
    if user is None or not user.enabled:
        raise Unauthorized("the user was disabled or removed; sign in again")
    return principal_of(user)
