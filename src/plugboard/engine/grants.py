"""Grants: a user's role on a host, a VM or a network (plugboard.engine.policy says what each
allows). Given and taken by an admin; a user lists their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from plugboard.engine import policy
from plugboard.engine.policy import ROLE_KIND, Action
from plugboard.engine.tokens import Principal, TokenCache
from plugboard.engine.users import get_user
from plugboard.errors import GrantExists, GrantNotFound, HostNotFound, InvalidInput, UserIsAdmin
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.model import HostEvent
from plugboard.store import Store, on_commit
from plugboard.store.models import Grant, Host, User, utcnow


@dataclass(frozen=True)
class GrantView:
    id: int
    user: str
    role: str
    object: str
    created_at: datetime


def _view(grant: Grant, username: str) -> GrantView:
    return GrantView(grant.id, username, grant.role, grant.object, grant.created_at)


def check_object(session: Session, role: str, obj: str) -> None:
    """The object's name fits the role (hosts/H for host-admin, hosts/H/vms/V for the VM
    roles, hosts/H/networks/N for network-user) and its host is known. The VM or network
    need not exist yet: a grant may come before it."""
    if role not in ROLE_KIND:
        raise InvalidInput(
            f"no role '{role}'; choose one of {', '.join(policy.GRANT_ROLES)}", field="role"
        )
    kind, host, _ = policy.kind_of(obj)
    wanted = ROLE_KIND[role]
    if kind != wanted:
        example = {
            "host": "hosts/HOST",
            "vm": "hosts/HOST/vms/VM",
            "network": "hosts/HOST/networks/NETWORK",
        }[wanted]
        raise InvalidInput(
            f"{role} is held on a {wanted}, named {example}; '{obj}' is not one", field="object"
        )
    if session.scalar(select(Host.id).where(Host.name == host)) is None:
        raise HostNotFound(f"no host named '{host}'; `plugboard host-list` shows the hosts")


def list_grants(
    session: Session, by: Principal, *, user: str | None = None, obj: str | None = None
) -> list[GrantView]:
    """Every grant (an admin), or the caller's own (a user), narrowed to one user and to an
    object and what is below it."""
    query = select(Grant, User.username).join(User, Grant.user_id == User.id)
    if not by.is_admin:
        query = query.where(Grant.user_id == by.user_id)
    if user is not None:
        query = query.where(User.username == user)
    if obj is not None:
        query = query.where(or_(Grant.object == obj, Grant.object.startswith(obj + "/")))
    rows = session.execute(query.order_by(User.username, Grant.object, Grant.role))
    return [_view(grant, username) for grant, username in rows]


def add_grant(
    session: Session, cache: TokenCache, by: Principal, username: str, role: str, obj: str
) -> GrantView:
    policy.require(by, Action.ADMIN, "grants")
    user = get_user(session, username)
    check_object(session, role, obj)
    if user.role == "admin":
        raise UserIsAdmin(
            f"'{username}' is an admin and may do everything; grants are for users (make them "
            f'one first: PATCH /users/{username} with {{"role": "user"}})'
        )
    found = session.scalar(
        select(Grant).where(Grant.user_id == user.id, Grant.object == obj, Grant.role == role)
    )
    if found is not None:
        raise GrantExists(f"'{username}' holds {role} on {obj} already")
    grant = Grant(user_id=user.id, object=obj, role=role, created_at=utcnow())
    session.add(grant)
    session.flush()
    on_commit(session, lambda: cache.forget_user(username))
    return _view(grant, username)


def revoke_grant(session: Session, cache: TokenCache, by: Principal, grant_id: int) -> GrantView:
    """Take a grant back: from the user's next request it no longer allows anything."""
    policy.require(by, Action.ADMIN, "grants")
    found = session.execute(
        select(Grant, User.username)
        .join(User, Grant.user_id == User.id)
        .where(Grant.id == grant_id)
    ).one_or_none()
    if found is None:
        raise GrantNotFound(f"no grant {grant_id}; `plugboard grant-list` shows the grants")
    grant, username = found
    view = _view(grant, username)
    session.delete(grant)
    on_commit(session, lambda: cache.forget_user(username))
    return view


def give_creator(session: Session, cache: TokenCache, by: Principal, obj: str) -> None:
    """A user who creates a VM becomes its vm-operator (an admin needs no grant)."""
    if by.is_admin or (obj, "vm-operator") in by.grants:
        return
    held = select(Grant.id).where(
        Grant.user_id == by.user_id, Grant.object == obj, Grant.role == "vm-operator"
    )
    if session.scalar(held) is not None:  # granted since this request began
        return
    session.add(Grant(user_id=by.user_id, object=obj, role="vm-operator", created_at=utcnow()))
    on_commit(session, lambda: cache.forget_user(by.user))


def forgetter(store: Store, cache: TokenCache) -> Callable[[HostEvent, Libvirt], None]:
    """The grants' subscription to the hosts' event feeds: a VM or network undefined behind
    plugboard's back (virsh undefine) takes its grants along, so that another one defined
    later under its name is not granted by chance. One that is still there (a running VM
    made transient) keeps them."""

    def on_event(event: HostEvent, lv: Libvirt) -> None:
        if event.what != "undefined" or event.kind not in ("domain", "network"):
            return
        if event.kind == "domain":
            obj, there = policy.vm_object(event.host, event.name), lv.has_domain(event.name)
        else:
            obj, there = policy.network_object(event.host, event.name), lv.has_network(event.name)
        if not there:
            with store.session() as db:
                forget_object(db, cache, obj)

    return on_event


def forget_object(session: Session, cache: TokenCache, obj: str) -> None:
    """The object is gone (a VM or network deleted, a host removed): so are the grants on it
    and below it, so that a new one of the same name is not granted by chance."""
    below = or_(Grant.object == obj, Grant.object.startswith(obj + "/"))
    holders = session.scalars(
        select(User.username).join(Grant, Grant.user_id == User.id).where(below)
    ).all()
    if holders:
        session.execute(delete(Grant).where(below))

        def forget() -> None:
            for name in set(holders):
                cache.forget_user(name)

        on_commit(session, forget)
