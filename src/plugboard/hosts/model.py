"""What plugboard knows of a host besides libvirt's objects: its connection state, what it
told us when we connected, the events it reports, and the domain types VMs can have."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, get_args

# kvm where the host offers it, or qemu (TCG); `auto` picks kvm where libvirt offers it.
HypervisorDomainType = Literal["kvm", "qemu"]
DomainType = Literal["auto", HypervisorDomainType]
DOMAIN_TYPES: tuple[DomainType, ...] = get_args(DomainType)


class HostState(enum.StrEnum):
    DISCONNECTED = "disconnected"  # not opened yet
    CONNECTING = "connecting"  # being opened right now
    CONNECTED = "connected"
    UNREACHABLE = "unreachable"  # last attempt failed; retried in the background


@dataclass(frozen=True)
class HostEvent:
    """Something that happened on a host: libvirt's word about a network or a domain (by
    plugboard or anyone else: virsh, virt-manager, the guest itself), or the feed's own news
    of the host (connected again; time for a full read)."""

    host: str
    kind: str  # network, domain or host
    name: str  # the network's or domain's name; the host's for host events
    # network: defined, undefined, started, stopped; domain: defined, undefined, started,
    # stopped, device-added, device-removed, device-removal-failed, and plugboard's own
    # vnic-changed (libvirt has no event for a card changed in place); host: connected, tick
    what: str
    uuid: str | None = None  # a domain's
    device: str | None = None  # the alias of a domain's device (ua-nic1, net0, ...)


@dataclass(frozen=True)
class HostInfo:
    """What the host told us when we connected."""

    hostname: str
    libvirt_version: str
    hypervisor: str
    hypervisor_version: str
    kvm_available: bool
