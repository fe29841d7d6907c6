"""A host's network configuration as the caller wants it (issue 18): interfaces (ethernet,
Linux bridge, VLAN, bond, Open vSwitch bridge) with their state, MTU and addresses, and routes.
Declarative: an interface not mentioned is left alone; `state: absent` removes one.

The same form describes the host as it is (`state_of` a listing), so that a plan is a
difference of two values of one type (plugboard.hostnet.plan)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from plugboard.hostnet.desired_plain import ports_of
from plugboard.hostnet.model import HostInterface, Listing

IFNAME_REGEX = r"^[A-Za-z0-9_.:-]{1,15}$"  # the kernel's IFNAMSIZ (16 with its NUL)
IfName = Annotated[str, StringConstraints(pattern=IFNAME_REGEX)]
Cidr = Annotated[str, StringConstraints(max_length=64, pattern=r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$")]
Kind = Literal["ethernet", "bridge", "vlan", "bond", "ovs-bridge"]
State = Literal["up", "down", "absent"]
BondMode = Literal[
    "balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb",
    "balance-alb",
]  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Addresses(Strict):
    dhcp: bool = False
    addresses: list[Cidr] = Field(default_factory=list, max_length=64)


class BridgeSettings(Strict):
    ports: list[IfName] = Field(default_factory=list, max_length=256)
    stp: bool = False
    forward_delay: int = Field(15, ge=2, le=30)  # seconds, as the kernel allows with STP


class VlanSettings(Strict):
    base: IfName
    id: int = Field(ge=1, le=4094)


class BondSettings(Strict):
    mode: BondMode = "active-backup"
    miimon: int = Field(100, ge=0, le=10_000)
    ports: list[IfName] = Field(default_factory=list, max_length=32)
    primary: IfName | None = None


class OvsBond(Strict):
    name: IfName
    ports: list[IfName] = Field(min_length=2, max_length=32)


class OvsInternal(Strict):
    name: IfName
    tag: int | None = Field(None, ge=0, le=4095)


class OvsSettings(Strict):
    # the datapath of a new bridge: None takes the one the host's bridges use (netdev where
    # Open vSwitch runs in user space), else the kernel's (system)
    datapath_type: Literal["system", "netdev"] | None = None
    ports: list[IfName] = Field(default_factory=list, max_length=256)
    bonds: list[OvsBond] = Field(default_factory=list, max_length=32)
    internal: list[OvsInternal] = Field(default_factory=list, max_length=256)


class Interface(Strict):
    name: IfName
    type: Kind
    state: State = "up"
    mtu: int | None = Field(None, ge=68, le=65535)
    ipv4: Addresses | None = None
    ipv6: Addresses | None = None
    bridge: BridgeSettings | None = None
    vlan: VlanSettings | None = None
    bond: BondSettings | None = None
    ovs_bridge: OvsSettings | None = None

    def ports(self) -> list[str]:
        """The interfaces this one is the master of."""
        return ports_of(self)


class Route(Strict):
    destination: Cidr
    gateway: str | None = Field(None, max_length=64)
    dev: IfName | None = None
    state: Literal["present", "absent"] = "present"


class NetworkState(Strict):
    interfaces: list[Interface] = Field(default_factory=list, max_length=1024)
    routes: list[Route] = Field(default_factory=list, max_length=1024)

    def find(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)


# --- the host as it is, in the same form ---------------------------------------------------
_KINDS: dict[str, Kind] = {
    "nic": "ethernet",
    "veth": "ethernet",
    "bridge": "bridge",
    "vlan": "vlan",
    "bond": "bond",
    "ovs-bridge": "ovs-bridge",
}


def state_of(listing: Listing) -> NetworkState:
    """The host's interfaces plugboard can configure (NICs, veths, bridges, VLANs, bonds, Open
    vSwitch bridges) as a NetworkState; taps, macvtaps and the like are not configured here."""
    return NetworkState(interfaces=[_interface(i) for i in listing.interfaces if i.type in _KINDS])


def _interface(found: HostInterface) -> Interface:
    kind = _KINDS[found.type]
    v4 = [a for a in found.addresses if ":" not in a and a not in found.leased]
    v6 = [a for a in found.addresses if ":" in a and not a.lower().startswith("fe80:")]
    return Interface(
        name=found.name,
        type=kind,
        state="up" if found.state in ("up", "unknown") else "down",
        mtu=found.mtu,
        ipv4=Addresses(dhcp=bool(found.leased), addresses=v4) if v4 or found.leased else None,
        ipv6=Addresses(addresses=v6) if v6 else None,
        bridge=BridgeSettings(ports=found.ports) if kind == "bridge" else None,
        vlan=(
            VlanSettings(base=found.parent, id=found.vlan_id)
            if kind == "vlan" and found.parent and found.vlan_id
            else None
        ),
        bond=_bond(found) if kind == "bond" else None,
        ovs_bridge=_ovs(found) if kind == "ovs-bridge" else None,
    )


def _ovs(found: HostInterface) -> OvsSettings:
    """An Open vSwitch bridge's ports as OVSDB has them: a port of several interfaces is a
    bond, one of internal interfaces an internal port; a VM's port (libvirt's) is not ours."""
    layout = (found.ovs or {}).get("layout")
    if layout is None:  # read without its layout: the port names are all there is
        return OvsSettings(ports=found.ports)
    ours = {name: port for name, port in layout.items() if not port["vm"]}
    datapath = (found.ovs or {}).get("datapath_type")
    return OvsSettings(
        datapath_type=datapath if datapath in ("system", "netdev") else None,
        ports=sorted(n for n, p in ours.items() if len(p["interfaces"]) == 1 and not p["internal"]),
        bonds=[OvsBond(name=n, ports=p["interfaces"]) for n, p in sorted(ours.items())
               if len(p["interfaces"]) > 1],
        internal=[OvsInternal(name=n, tag=p["tag"]) for n, p in sorted(ours.items())
                  if p["internal"]],
    )  # fmt: skip


def _bond(found: HostInterface) -> BondSettings:
    """A bond as read: its mode too, when the source tells it (netlink does), so that a mode
    change is planned as one (the default mode is not taken for the bond's)."""
    if found.mode in get_args(BondMode):
        return BondSettings(ports=found.ports, mode=found.mode)
    return BondSettings(ports=found.ports)
