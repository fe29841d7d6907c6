"""A host's network configuration (issue 18): read in the desired state's form, and the plan
of a change, with what uses each interface and the interfaces the host is reached by. Applying
a plan (with a checkpoint and rollback on the host) comes next."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from plugboard.engine import policy
from plugboard.engine.interfaces import list_interfaces
from plugboard.engine.policy import Action, host_object
from plugboard.engine.tokens import Principal
from plugboard.errors import PlanRefused
from plugboard.hostnet.desired import NetworkState, state_of
from plugboard.hostnet.model import Listing
from plugboard.hostnet.plan import Plan, plan
from plugboard.hosts.connection import HostConnection


@dataclass(frozen=True)
class HostNetwork:
    state: NetworkState
    source: str  # where the facts come from (netlink+ovsdb, netlink, libvirt)
    cannot_see: list[str]


def _read(host: HostConnection, by: Principal) -> tuple[Listing, NetworkState]:
    policy.require(by, Action.MANAGE, host_object(host.name))
    listing = list_interfaces(host, by)
    return listing, state_of(listing)


def network_state(host: HostConnection, by: Principal) -> HostNetwork:
    """The host's configurable interfaces (a host-admin's read)."""
    listing, state = _read(host, by)
    return HostNetwork(state, listing.source, listing.cannot_see)


def plan_change(host: HostConnection, by: Principal, desired: NetworkState) -> Plan:
    """The steps from the host's state to `desired`, or the refusals (nothing changes)."""
    listing, current = _read(host, by)
    users = {
        i.name: [f"{'VM' if u['kind'] == 'vm' else u['kind']} {u['name']}" for u in i.used_by]
        for i in listing.interfaces
        if i.used_by
    }
    return plan(desired, current, users, management_interfaces(host.uri, listing))


def management_interfaces(uri: str, listing: Listing) -> set[str]:
    """The interfaces that carry the address the host's URI names (qemu+ssh://10.0.0.5/...):
    removing one would cut the service off. A name, or a local host, names none."""
    hostname = urlsplit(uri).hostname
    try:
        address = ipaddress.ip_address(hostname or "")
    except ValueError:
        return set()
    return {
        i.name
        for i in listing.interfaces
        if any(ipaddress.ip_interface(a).ip == address for a in i.addresses)
    }


def checked_plan(host: HostConnection, by: Principal, desired: NetworkState) -> Plan:
    """`plan_change`, its refusals raised as one PLAN_REFUSED listing them all."""
    found = plan_change(host, by, desired)
    if found.refused:
        words = "; ".join(r.detail for r in found.refusals)
        raise PlanRefused(
            f"nothing was changed: {words}",
            refusals=[{"field": r.field, "message": r.detail} for r in found.refusals],
        )
    return found
