"""The last administrator cannot lock everyone out: some user stays an enabled admin, and
some token of such a user stays an admin token that is not revoked (without one, no token
could be made again over the API; `plugboard admin-token --reset` is the way back)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from plugboard.errors import LastAdminToken, LastAdminUser
from plugboard.store.models import Token, User


def enabled_admins() -> Select[User]:
    """The enabled admin users, oldest first."""
    return select(User).where(User.role == "admin", User.enabled.is_(True)).order_by(User.id)


def active_admins() -> Select[str]:
    """The names of the tokens that act as admin (role admin, not revoked, their user an
    enabled admin), oldest first."""
    return (
        select(Token.name)
        .join(User, Token.user_id == User.id)
        .where(
            Token.role == "admin",
            Token.revoked_at.is_(None),
            User.role == "admin",
            User.enabled.is_(True),
        )
        .order_by(Token.id)
    )


def lock_admins(session: Session) -> None:
    """Before a change that could take the last admin away: two such changes must not both
    pass. PostgreSQL: the admin users' rows, then their admin tokens', are locked (FOR UPDATE,
    in that order and in id order, so two changes cannot deadlock): a second change waits for
    the first to end, then reads it. SQLite has no row locks (FOR UPDATE is a no-op) and
    pysqlite begins the transaction at its first write: the change's flushed UPDATE takes the
    database's write lock, so the count after it sees every change committed before."""
    session.scalars(enabled_admins().with_for_update()).all()
    session.scalars(active_admins().with_for_update()).all()


def check_admins_left(session: Session, why: str) -> None:
    """After a change (flushed, with `lock_admins` before it): an enabled admin user and an
    admin token are left, else the change is refused (the transaction rolls back)."""
    session.flush()
    if session.scalars(enabled_admins()).first() is None:
        raise LastAdminUser(
            f"{why} the last enabled admin user; make another user admin first: "
            "plugboard user-add NAME --role admin"
        )
    if session.scalars(active_admins()).first() is None:
        raise LastAdminToken(
            f"{why} the last admin token; create another admin token first: "
            "plugboard token-create --name NAME --role admin [--user ADMIN]"
        )
