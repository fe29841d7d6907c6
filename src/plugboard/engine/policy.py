"""Who may do what: plugboard's one policy, in the spirit of oVirt's permissions.

A user holds grants, each a role on one object, named as the audit log names it:

    network-user  hosts/H/networks/N   may see the network and wire vNICs to it
    vm-viewer     hosts/H/vms/V        may see the VM and its vNICs
    vm-operator   hosts/H/vms/V        ... and start and stop it, plug, unplug, link, re-wire,
                                       add and remove its vNICs
    host-admin    hosts/H              everything on that host

and an `admin` may do everything, including what belongs to plugboard itself (hosts, users,
tokens, grants, templates, the MAC pool). The engine's use cases ask `require(who, action,
object)` before they act; routes and pages ask nothing themselves.

What a caller may not see is answered as if it were not there (404, the same words as a
missing one), so nothing leaks its existence; what they may see but not change is 403
PERMISSION_DENIED, naming the grant that is missing and how an administrator gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypeVar, get_args

from plugboard.errors import (
    HostNotFound,
    NetworkNotFound,
    PermissionDenied,
    PlugboardError,
    VmNotFound,
)

if TYPE_CHECKING:  # the Principal's module reaches this one through the audit log
    from plugboard.engine.tokens import Principal

GrantRole = Literal["network-user", "vm-operator", "vm-viewer", "host-admin"]
GRANT_ROLES: tuple[GrantRole, ...] = get_args(GrantRole)
# Which kind of object each role is held on.
ROLE_KIND: dict[GrantRole, str] = {
    "network-user": "network",
    "vm-operator": "vm",
    "vm-viewer": "vm",
    "host-admin": "host",
}


class Action(StrEnum):
    SEE = "see"  # a host, VM or network: read it (a VM's vNICs, a network's leases)
    OPERATE = "operate"  # a VM: start, stop, and change its vNICs
    WIRE = "wire"  # a network: wire vNICs to it; a host: to its own devices (bridge, macvtap)
    MANAGE = "manage"  # a host: define networks, create and delete VMs, read its interfaces
    ADMIN = "admin"  # plugboard itself: hosts, users, tokens, grants, templates, the MAC pool


# In words, for PERMISSION_DENIED: "user 'alice' may not <verb> <object>".
VERBS = {
    Action.SEE: "see",
    Action.OPERATE: "change",
    Action.WIRE: "wire vNICs to",
    Action.MANAGE: "manage",
    Action.ADMIN: "change",
}


def host_object(host: str) -> str:
    return f"hosts/{host}"


def vm_object(host: str, vm: str) -> str:
    return f"hosts/{host}/vms/{vm}"


def network_object(host: str, network: str) -> str:
    return f"hosts/{host}/networks/{network}"


def kind_of(obj: str) -> tuple[str, str, str]:
    """(kind, host, name) of an object's name: ("vm", "h1", "web1") for hosts/h1/vms/web1,
    ("host", "h1", "h1") for hosts/h1; ("plugboard", "", obj) for what is plugboard's own."""
    parts = obj.split("/")
    if len(parts) == 2 and parts[0] == "hosts" and parts[1]:
        return "host", parts[1], parts[1]
    if len(parts) == 4 and parts[0] == "hosts" and parts[2] in ("vms", "networks") and parts[3]:
        return parts[2][:-1], parts[1], parts[3]
    return "plugboard", "", obj


def can(who: Principal, action: Action, obj: str) -> bool:
    """May `who` do `action` on `obj` (an object's name: hosts/H, hosts/H/vms/V, ...)?"""
    if who.is_admin:
        return True
    kind, host, _ = kind_of(obj)
    if kind == "plugboard" or action is Action.ADMIN:
        return False
    if (who.reads_all and action is Action.SEE) or (host_object(host), "host-admin") in who.grants:
        return True
    return _granted(who, action, kind, host, obj)


def _granted(who: Principal, action: Action, kind: str, host: str, obj: str) -> bool:
    """What a user's grants on the object itself allow (host-admin aside)."""
    if kind == "host":  # a host is seen by whoever holds anything on it
        prefix = host_object(host) + "/"
        return action is Action.SEE and any(o.startswith(prefix) for o, _ in who.grants)
    if kind == "vm":
        roles = {"vm-operator"} if action is Action.OPERATE else {"vm-operator", "vm-viewer"}
        return action in (Action.SEE, Action.OPERATE) and any((obj, r) in who.grants for r in roles)
    # a network
    return action in (Action.SEE, Action.WIRE) and (obj, "network-user") in who.grants


def require(who: Principal, action: Action, obj: str) -> None:
    """Go on if `who` may do `action` on `obj`; else 404 as if it were missing (when they may
    not even see it) or 403 naming the grant they lack.

    Wiring to a network names the network the caller chose: a missing grant is 403 whether
    the network exists or not, which says nothing of it."""
    if can(who, action, obj):
        return
    kind = kind_of(obj)[0]
    seen_if_allowed = kind in ("vm", "host") or (kind == "network" and action is not Action.WIRE)
    if seen_if_allowed and not can(who, Action.SEE, obj):
        raise hidden(obj)
    raise denied(who, action, obj)


def hidden(obj: str) -> PlugboardError:
    """The 404 a missing object gets, word for word."""
    kind, _, name = kind_of(obj)
    if kind == "vm":
        return VmNotFound(f"no VM '{name}' on this host; `plugboard vm-list` shows them")
    if kind == "network":
        return NetworkNotFound(f"no network '{name}' on this host; `plugboard net-list` shows them")
    return HostNotFound(f"no host named '{name}'; `plugboard host-list` shows the hosts")


def needed(action: Action, obj: str) -> list[tuple[GrantRole | Literal["admin"], str]]:
    """The grants any one of which would allow `action` on `obj`, most specific first."""
    kind, host, _ = kind_of(obj)
    if kind == "plugboard" or action is Action.ADMIN:
        return [("admin", "")]
    on_host: list[tuple[GrantRole | Literal["admin"], str]] = [("host-admin", host_object(host))]
    if kind == "vm" and action in (Action.SEE, Action.OPERATE):
        return [("vm-operator", obj), *on_host]
    if kind == "network" and action in (Action.SEE, Action.WIRE):
        return [("network-user", obj), *on_host]
    return on_host


def denied(who: Principal, action: Action, obj: str) -> PermissionDenied:
    grants = needed(action, obj)
    if grants == [("admin", "")]:
        return PermissionDenied(
            f"{who.described} may not change {obj}: this needs the role admin",
            needs=[{"role": "admin"}],
        )
    first_role, first_obj = grants[0]
    also = "".join(f" (or {role} on {o})" for role, o in grants[1:])
    return PermissionDenied(
        f"{who.described} may not {VERBS[action]} {obj}: this needs {first_role} on "
        f"{first_obj}{also}; an administrator grants it with "
        f"`plugboard grant {who.user} {first_role} {first_obj}`",
        needs=[{"role": role, "object": o} for role, o in grants],
    )


def visible(who: Principal, objects: Iterable[str]) -> list[str]:
    """The objects `who` may see, in their order."""
    return [o for o in objects if can(who, Action.SEE, o)]


T = TypeVar("T")


def keep_visible(who: Principal, items: Iterable[T], obj: Callable[[T], str]) -> list[T]:
    """The items whose object `who` may see, in their order: a list filtered for a user."""
    if who.is_admin or who.reads_all:
        return list(items)
    return [i for i in items if can(who, Action.SEE, obj(i))]


def event_scope(who: Principal) -> tuple[list[str], list[str]] | None:
    """Which audit events `who` may read: None for all (an admin), else (objects whose events
    and those below them are seen, exact objects whose events alone are seen). A user sees
    the events of what they may see; their own are added by the caller."""
    if who.is_admin or who.reads_all:
        return None
    below: list[str] = []
    exact: list[str] = []
    for obj, role in sorted(who.grants):
        kind, host, _ = kind_of(obj)
        if role == "host-admin":
            below.append(obj)
        elif kind in ("vm", "network"):
            below.append(obj)
            exact.append(host_object(host))
    return below, exact
