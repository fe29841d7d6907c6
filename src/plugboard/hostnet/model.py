"""A host's network interfaces as plugboard reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# nic: a physical (or para-virtual) NIC; tap: a VM's tap (vnetN) or another TUN/TAP device;
# ovs-bridge: an Open vSwitch bridge (its internal port); ovs-datapath: OVS's own device
# (ovs-system, ovs-netdev).
InterfaceType = Literal[
    "nic",
    "bond",
    "bridge",
    "vlan",
    "macvtap",
    "macvlan",
    "veth",
    "tap",
    "ovs-bridge",
    "ovs-datapath",
    "loopback",
    "other",
]
TYPES = get_args(InterfaceType)
# Where a listing's facts come from: netlink and OVSDB in the namespace of the host's libvirtd
# (it runs on this machine), or libvirt's interface APIs.
ListingSource = Literal["netlink+ovsdb", "netlink", "libvirt"]
LISTING_SOURCES: tuple[ListingSource, ...] = get_args(ListingSource)


@dataclass
class HostInterface:
    name: str
    type: str
    state: str  # up, down, unknown, lowerlayerdown, ... (the kernel's operstate, lower case)
    mac: str | None = None
    mtu: int | None = None
    addresses: list[str] = field(default_factory=list)  # CIDR
    master: str | None = None  # the bridge, bond or Open vSwitch bridge it is a port of
    ports: list[str] = field(default_factory=list)  # a bridge's ports, a bond's slaves
    parent: str | None = None  # the lower device of a VLAN, macvtap or macvlan
    vlan_id: int | None = None
    mode: str | None = None  # macvtap/macvlan mode, bond mode
    ovs: dict[str, Any] | None = None  # Open vSwitch facts (bridge, tag, trunks, error, ...)
    used_by: list[dict[str, str]] = field(default_factory=list)  # {kind: vm|network, name}
    # IPv4 addresses with a lifetime (a DHCP client's lease), among `addresses`; IPv6's are
    # left out: its autoconfigured addresses have one too.
    leased: list[str] = field(default_factory=list)


@dataclass
class Listing:
    source: ListingSource
    cannot_see: list[str]
    interfaces: list[HostInterface]

    def find(self, name: str) -> HostInterface | None:
        return next((i for i in self.interfaces if i.name == name), None)
