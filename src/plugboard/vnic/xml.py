"""A vNIC as libvirt XML: the mapping between `Vnic` and the domain's `<interface>` element
(plugboard.netxml.interface), and the one name of a card.

A plugged vNIC is an `<interface>` in the domain's devices, named by its user alias
`ua-<name>`. What libvirt cannot hold is in the domain's metadata (plugboard.vnic.metadata).
A vNIC with no network is a card on plugboard's black-hole network with its link down.
"""

from __future__ import annotations

import copy

from lxml import etree

from plugboard.netxml.interface import (
    FilterParameter,
    Interface,
    InterfaceAlias,
    InterfaceFilterRef,
    InterfaceLink,
    InterfaceMac,
    InterfaceModel,
    InterfaceSource,
)
from plugboard.netxml.model import Bandwidth, Inbound, Outbound, VirtualPort, Vlan, VlanTag
from plugboard.netxml.safe import parse_xml
from plugboard.vnic.model import (
    DEFAULT_MACVTAP_MODE,
    LIMITS,
    FilterRef,
    Limits,
    Source,
    VlanTags,
    Vnic,
)

BLACKHOLE = "plugboard-nonet"  # an isolated libvirt network without addresses: no traffic
USER_ALIAS = "ua-"
ADOPTED = "mac-"  # a vNIC plugboard did not make (no user alias) is named by its MAC
RUNTIME_TARGET = ("vnet", "macvtap", "macvlan")  # target devs libvirt names itself
# libvirt's <interface type> of each source type plugboard wires.
INTERFACE_TYPES = {"network": "network", "bridge": "bridge", "ovs": "bridge", "macvtap": "direct"}


def vnic_name(iface: Interface) -> str:
    """The name of a card, wherever plugboard names one (the vNIC API, leases, events): its
    user alias without `ua-`, or `mac-` and its MAC for a card plugboard did not make."""
    alias = iface.alias.name if iface.alias is not None else None
    if alias and alias.startswith(USER_ALIAS):
        return alias[len(USER_ALIAS) :]
    return ADOPTED + mac_of(iface).replace(":", "")


def mac_of(iface: Interface) -> str:
    """The card's MAC, lower case ("" when it has none yet)."""
    return ((iface.mac.address if iface.mac is not None else None) or "").lower()


def parse_interface(text: str | bytes) -> Interface:
    return interface_of(parse_xml(text, "/interface"))


def interface_of(element: etree._Element) -> Interface:
    node = Interface.from_element(element, "/interface")
    assert isinstance(node, Interface)
    return node


def vnic_from(
    iface: Interface, linked_wish: bool | None, plugged: bool, profile: str | None = None
) -> Vnic:
    """The vNIC an `<interface>` is. `linked_wish`: plugboard's record of whether the cable is
    in, for a card that is unplugged or has no network (its link is down either way);
    `profile`: the vNIC profile its record names."""
    source = _source_from(iface)
    linked = iface.link is None or iface.link.state != "down"
    if (source is None or not plugged) and linked_wish is not None:
        linked = linked_wish
    model = iface.model.type if iface.model is not None else None
    return Vnic(
        name=vnic_name(iface),
        mac=mac_of(iface),
        model=model or "default",
        source=source,
        plugged=plugged,
        linked=linked,
        bandwidth=limits_from(iface.bandwidth),
        vlan=tags_from(iface.vlan),
        filter=_filter_from(iface.filterref),
        profile=profile,
    )


def _source_from(iface: Interface) -> Source | None:
    kind = iface.type
    src = iface.source or InterfaceSource()
    # A running card on a libvirt network whose forward mode is bridge (a host bridge, Open
    # vSwitch) or a macvtap pool shows its actual type ('bridge', 'direct') in the live XML,
    # with the network still named in its source: it is wired to the network.
    if kind == "network" or src.network is not None:
        if src.network == BLACKHOLE:
            return None
        return Source("network", network=src.network, portgroup=src.portgroup)
    if kind == "bridge":
        port = iface.virtualport
        if port is not None and port.type == "openvswitch":
            return Source("ovs", bridge=src.bridge, attachment="ovs")
        return Source("bridge", bridge=src.bridge)
    if kind == "direct":
        mode = src.mode or DEFAULT_MACVTAP_MODE
        return Source("macvtap", dev=src.dev, mode=mode, attachment="macvtap")
    return Source(kind or "unknown")  # user, ethernet, hostdev, ...: shown, not re-wired


def limits_from(bandwidth: Bandwidth | None) -> Limits:
    if bandwidth is None:
        return ()
    found: list[tuple[str, int]] = []
    for direction, keys in LIMITS.items():
        rate = getattr(bandwidth, direction)
        if rate is not None:
            found.extend(
                (f"{direction}.{key}", getattr(rate, key))
                for key in keys
                if getattr(rate, key) is not None
            )
    return tuple(found)


def tags_from(vlan: Vlan | None) -> VlanTags | None:
    if vlan is None:
        return None
    tags = tuple(tag.id for tag in vlan.tags if tag.id is not None)
    return VlanTags(tags, trunk=vlan.trunk == "yes")


def _filter_from(ref: InterfaceFilterRef | None) -> FilterRef | None:
    if ref is None or not ref.filter:
        return None
    params = tuple((p.name or "", p.value or "") for p in ref.parameters)
    return FilterRef(ref.filter, params)


def _filter_for(ref: FilterRef | None) -> InterfaceFilterRef | None:
    if ref is None:
        return None
    params = [FilterParameter(name=k, value=v) for k, v in ref.parameters]
    return InterfaceFilterRef(filter=ref.name, parameters=params)


def interface_for(vnic: Vnic, base: Interface | None = None) -> Interface:
    """The `<interface>` that makes `vnic`, keeping what plugboard does not manage from `base`
    (the card as it is now: its PCI address, driver, boot order ...)."""
    iface = copy.deepcopy(base) if base is not None else Interface()
    source = vnic.source
    if source is not None and not source.managed:
        raise ValueError(f"plugboard cannot wire a vNIC to a '{source.type}' source")
    # An Open vSwitch port's identity (its interfaceid, which libvirt made up): kept while the
    # card stays on Open vSwitch, else libvirt sees a new port and cannot update it live.
    port = iface.virtualport
    kept_port = port is not None and port.type == "openvswitch"
    if not kept_port:
        port = VirtualPort(type="openvswitch")
    on_ovs = source is not None and source.type == "ovs"
    # A running card on an Open vSwitch network: libvirt refuses a live update whose port
    # differs from the one the network gave it ("unable to change config on 'network'").
    on_ovs = on_ovs or (kept_port and source is not None and source.attachment == "ovs")
    iface.type = INTERFACE_TYPES[source.type] if source is not None else "network"
    iface.mac = InterfaceMac(address=vnic.mac)
    iface.source = _source_for(source)
    iface.virtualport = port if on_ovs else None
    if iface.target is not None and (iface.target.dev or "").startswith(RUNTIME_TARGET):
        iface.target = None  # libvirt names a new tap or macvtap itself
    iface.model = InterfaceModel(type=vnic.model) if vnic.model != "default" else None
    iface.link = InterfaceLink(state="down") if source is None or not vnic.linked else None
    iface.vlan = _vlan_for(vnic.vlan)
    iface.bandwidth = _bandwidth_for(vnic.bandwidth)
    iface.filterref = _filter_for(vnic.filter)
    adopted = vnic.name.startswith(ADOPTED)
    iface.alias = iface.alias if adopted else InterfaceAlias(name=USER_ALIAS + vnic.name)
    return iface


def _source_for(source: Source | None) -> InterfaceSource:
    if source is None:
        return InterfaceSource(network=BLACKHOLE)
    if source.type == "network":
        return InterfaceSource(network=source.network, portgroup=source.portgroup)
    if source.type == "macvtap":
        return InterfaceSource(dev=source.dev, mode=source.mode or DEFAULT_MACVTAP_MODE)
    return InterfaceSource(bridge=source.bridge)


def _vlan_for(tags: VlanTags | None) -> Vlan | None:
    if tags is None:
        return None
    return Vlan(trunk="yes" if tags.trunk else None, tags=[VlanTag(id=t) for t in tags.tags])


def _bandwidth_for(limits: Limits) -> Bandwidth | None:
    if not limits:
        return None
    rates: dict[str, dict[str, int]] = {}
    for key, value in limits:
        direction, name = key.split(".", 1)
        rates.setdefault(direction, {})[name] = value
    inbound, outbound = rates.get("inbound"), rates.get("outbound")
    return Bandwidth(
        inbound=Inbound(**inbound) if inbound else None,
        outbound=Outbound(**outbound) if outbound else None,
    )


def without_address(iface: Interface) -> Interface:
    """The card without its slot: libvirt puts it into any free one."""
    unslotted = copy.deepcopy(iface)
    unslotted.address = None
    return unslotted


def in_slot(iface: Interface, pci_address: str) -> Interface:
    """The card in the slot `pci_address` ("0000:05:00.0", as `pci_address` gives it)."""
    domain, bus, rest = pci_address.split(":")
    slot, function = rest.split(".")
    slotted = copy.deepcopy(iface)
    slotted.address = etree.Element(
        "address",
        type="pci",
        domain=f"0x{domain}",
        bus=f"0x{bus}",
        slot=f"0x{slot}",
        function=f"0x{function}",
    )
    return slotted


def pci_address(iface: Interface) -> str | None:
    """The card's PCI address as the guest's `lspci -D` shows it, e.g. 0000:01:00.0."""
    addr = iface.address
    if addr is None or addr.get("type") != "pci":
        return None
    domain, bus, slot, function = (
        int(addr.get(key, "0"), 16) for key in ("domain", "bus", "slot", "function")
    )
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def to_string(iface: Interface) -> str:
    return iface.format()
