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
    """Something libvirt reported about an object on a host."""

    host: str
    kind: str  # "network"
    name: str
    what: str  # "defined", "undefined", "started", "stopped"


@dataclass(frozen=True)
class HostInfo:
    """What the host told us when we connected."""

    hostname: str
    libvirt_version: str
    hypervisor: str
    hypervisor_version: str
    kvm_available: bool
