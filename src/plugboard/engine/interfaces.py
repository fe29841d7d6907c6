"""A host's network interfaces, as the host sees them (plugboard.hostnet)."""

from __future__ import annotations

from collections.abc import Collection

from plugboard.engine import policy
from plugboard.engine.policy import Action, host_object
from plugboard.engine.tokens import Principal
from plugboard.hostnet import listing as hostnet
from plugboard.hostnet.model import Listing
from plugboard.hosts.connection import HostConnection


def list_interfaces(
    host: HostConnection,
    by: Principal,
    source: str = "auto",
    types: Collection[str] = (),
    usage: bool = True,
) -> Listing:
    """The host's interfaces (only those of `types`, when given); `source` says where to read
    them: auto, host (netlink + OVSDB) or libvirt; `usage`: with the networks and VMs that
    use each (a read of every network and domain more). A host-admin's."""
    policy.require(by, Action.SEE, host_object(host.name))
    policy.require(by, Action.MANAGE, host_object(host.name))
    listing = host.call(lambda lv: hostnet.read(lv, source, usage))
    if types:
        listing.interfaces = [i for i in listing.interfaces if i.type in types]
    return listing
