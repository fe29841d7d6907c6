"""A vNIC as libvirt XML: the domain's `<interface>` element, and plugboard's `<metadata>`.

A plugged vNIC is an `<interface>` in the domain's devices, named by its user alias `ua-<name>`.
What libvirt cannot hold is kept in the domain's own metadata, under plugboard's namespace:

    <plugboard:vnics xmlns:plugboard="https://plugboard.dev/xmlns/vnics/1">
      <vnic name="nic2" plugged="no" linked="yes"><interface type="network">...</interface></vnic>
      <vnic name="nic3" linked="yes"/>   <!-- no network: the wish for the cable -->
    </plugboard:vnics>

An unplugged vNIC keeps its whole `<interface>` there (with its PCI address, so it goes back
into the same slot). A vNIC with no network is a card on plugboard's black-hole network with its
link down; its metadata says whether it is linked once it gets a network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from plugboard.vnic.model import Source, Vlan, Vnic

NS = "https://plugboard.dev/xmlns/vnics/1"
NS_KEY = "plugboard"
BLACKHOLE = "plugboard-nonet"  # an isolated libvirt network without addresses: no traffic
USER_ALIAS = "ua-"
ADOPTED = "mac-"  # a vNIC plugboard did not make (no user alias) is named by its MAC
# Children of <interface> plugboard writes; everything else (driver, rom, boot, mtu,
# address, ...) is kept as it is.
OWNED = {"mac", "source", "model", "link", "vlan", "bandwidth", "virtualport", "alias"}
RUNTIME_TARGET = ("vnet", "macvtap", "macvlan")  # target devs libvirt names itself
BANDWIDTH_KEYS = {
    "inbound": ("average", "peak", "burst", "floor"),
    "outbound": ("average", "peak", "burst"),
}


@dataclass
class Meta:
    """plugboard's record of one vNIC in the domain's metadata."""

    name: str
    plugged: bool
    linked: bool
    interface: etree._Element | None = None  # the whole card, for an unplugged vNIC


def vnic_name(iface: etree._Element) -> str:
    alias = iface.find("alias")
    name = alias.get("name", "") if alias is not None else ""
    if name.startswith(USER_ALIAS):
        return name[len(USER_ALIAS) :]
    mac = iface.find("mac")
    address = mac.get("address", "") if mac is not None else ""
    return ADOPTED + address.replace(":", "").lower()


def vnic_from(iface: etree._Element, meta: Meta | None, plugged: bool) -> Vnic:
    """The vNIC an `<interface>` element is (with plugboard's record of it, if any)."""
    source = _source_from(iface)
    link = iface.find("link")
    linked = link is None or link.get("state") != "down"
    if source is None or not plugged:
        linked = meta.linked if meta is not None else linked
    mac = iface.find("mac")
    model = iface.find("model")
    return Vnic(
        name=vnic_name(iface),
        mac=(mac.get("address", "") if mac is not None else "").lower(),
        model=model.get("type", "default") if model is not None else "default",
        source=source,
        plugged=plugged,
        linked=linked,
        bandwidth=_bandwidth_from(iface.find("bandwidth")),
        vlan=_vlan_from(iface.find("vlan")),
    )


def _source_from(iface: etree._Element) -> Source | None:
    kind = iface.get("type")
    src = iface.find("source")
    get = src.get if src is not None else (lambda _key, default=None: default)
    if kind == "network":
        if get("network") == BLACKHOLE:
            return None
        return Source("network", network=get("network"), portgroup=get("portgroup"))
    if kind == "bridge":
        port = iface.find("virtualport")
        if port is not None and port.get("type") == "openvswitch":
            return Source("ovs", bridge=get("bridge"), attachment="ovs")
        return Source("bridge", bridge=get("bridge"))
    if kind == "direct":
        return Source("direct", dev=get("dev"), mode=get("mode", "vepa"), attachment="macvtap")
    return Source(kind or "unknown")  # user, ethernet, hostdev, ...: shown, not re-wired


def _bandwidth_from(node: etree._Element | None) -> tuple[tuple[str, int], ...]:
    if node is None:
        return ()
    found = []
    for direction, keys in BANDWIDTH_KEYS.items():
        part = node.find(direction)
        if part is None:
            continue
        found.extend(
            (f"{direction}.{key}", int(part.get(key))) for key in keys if part.get(key) is not None
        )
    return tuple(found)


def _vlan_from(node: etree._Element | None) -> Vlan | None:
    if node is None:
        return None
    tags = tuple(int(tag.get("id")) for tag in node.iterfind("tag"))
    return Vlan(tags, trunk=node.get("trunk") == "yes")


def interface_for(vnic: Vnic, base: etree._Element | None = None) -> etree._Element:
    """The `<interface>` that makes `vnic`, keeping what plugboard does not manage from `base`
    (the card as it is now: its PCI address, driver, boot order ...)."""
    iface = copy.deepcopy(base) if base is not None else etree.Element("interface")
    # An Open vSwitch port's identity (its interfaceid, which libvirt made up): kept while the
    # card stays on Open vSwitch, else libvirt sees a new port and cannot update it live.
    port = iface.find("virtualport[@type='openvswitch']")
    for child in list(iface):
        if child.tag in OWNED or (
            child.tag == "target" and child.get("dev", "").startswith(RUNTIME_TARGET)
        ):
            iface.remove(child)
    iface.attrib.clear()
    source = vnic.source
    _sub(iface, "mac", address=vnic.mac)
    _write_source(iface, source)
    if source is not None and source.type == "ovs":
        iface.append(port if port is not None else etree.Element("virtualport", type="openvswitch"))
    if vnic.model != "default":
        _sub(iface, "model", type=vnic.model)
    if source is None or not vnic.linked:
        _sub(iface, "link", state="down")
    _write_vlan(iface, vnic.vlan)
    _write_bandwidth(iface, vnic.bandwidth)
    if not vnic.name.startswith(ADOPTED):
        _sub(iface, "alias", name=USER_ALIAS + vnic.name)
    return iface


def _write_source(iface: etree._Element, source: Source | None) -> None:
    if source is None:
        iface.set("type", "network")
        _sub(iface, "source", network=BLACKHOLE)
    elif source.type == "network":
        iface.set("type", "network")
        _sub(iface, "source", network=source.network, portgroup=source.portgroup)
    elif source.type in ("bridge", "ovs"):
        iface.set("type", "bridge")
        _sub(iface, "source", bridge=source.bridge)
    elif source.type == "direct":
        iface.set("type", "direct")
        _sub(iface, "source", dev=source.dev, mode=source.mode or "vepa")
    else:
        raise ValueError(f"plugboard cannot wire a vNIC to a '{source.type}' source")


def _write_vlan(iface: etree._Element, vlan: Vlan | None) -> None:
    if vlan is None:
        return
    node = _sub(iface, "vlan", trunk="yes" if vlan.trunk else None)
    for tag in vlan.tags:
        _sub(node, "tag", id=str(tag))


def _write_bandwidth(iface: etree._Element, limits: tuple[tuple[str, int], ...]) -> None:
    if not limits:
        return
    bandwidth = _sub(iface, "bandwidth")
    for direction in BANDWIDTH_KEYS:
        values = {
            key.split(".", 1)[1]: str(value)
            for key, value in limits
            if key.startswith(direction + ".")
        }
        if values:
            _sub(bandwidth, direction, **values)


def _sub(parent: etree._Element, tag: str, **attrs: str | None) -> etree._Element:
    return etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})


def address_of(iface: etree._Element) -> etree._Element | None:
    return iface.find("address[@type='pci']")


def pci_address(iface: etree._Element) -> str | None:
    """The card's PCI address as the guest's `lspci -D` shows it, e.g. 0000:01:00.0."""
    addr = address_of(iface)
    if addr is None:
        return None
    domain, bus, slot, function = (
        int(addr.get(key, "0"), 16) for key in ("domain", "bus", "slot", "function")
    )
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


# --- metadata --------------------------------------------------------------------------------
def read_meta(domain: etree._Element) -> dict[str, Meta]:
    root = domain.find(f"./metadata/{{{NS}}}vnics")
    found = {}
    if root is None:
        return found
    for entry in root.iterfind(f"{{{NS}}}vnic"):
        iface = entry.find(f"{{{NS}}}interface")
        found[entry.get("name")] = Meta(
            name=entry.get("name"),
            plugged=entry.get("plugged", "yes") != "no",
            linked=entry.get("linked", "yes") != "no",
            interface=_without_namespace(iface) if iface is not None else None,
        )
    return found


def _without_namespace(node: etree._Element) -> etree._Element:
    """libvirt puts every element under <metadata> into plugboard's namespace; the card
    itself is a plain <interface>."""
    plain = copy.deepcopy(node)
    for element in plain.iter(etree.Element):
        element.tag = etree.QName(element).localname
    etree.cleanup_namespaces(plain)
    return plain


def meta_xml(entries: dict[str, Meta]) -> str | None:
    """The metadata element for `entries`, as setMetadata takes it (None: nothing to keep)."""
    root = _meta_element(entries, namespaced=False)
    return None if root is None else etree.tostring(root, encoding="unicode")


def set_meta(domain: etree._Element, entries: dict[str, Meta]) -> None:
    """Put `entries` into a domain's XML (for defineXML) as libvirt itself writes them: every
    element in plugboard's namespace."""
    metadata = domain.find("metadata")
    if metadata is not None:
        for old in metadata.findall(f"{{{NS}}}vnics"):
            metadata.remove(old)
    root = _meta_element(entries, namespaced=True)
    if root is None:
        if metadata is not None and len(metadata) == 0:
            domain.remove(metadata)
        return
    if metadata is None:
        metadata = etree.Element("metadata")
        anchor = domain.find("name")
        domain.insert(domain.index(anchor) + 1 if anchor is not None else 0, metadata)
    metadata.append(root)


def _meta_element(entries: dict[str, Meta], namespaced: bool) -> etree._Element | None:
    if not entries:
        return None

    def tag(name: str) -> str:
        return f"{{{NS}}}{name}" if namespaced else name

    root = etree.Element(tag("vnics"), nsmap={NS_KEY: NS} if namespaced else None)
    for meta in sorted(entries.values(), key=lambda m: m.name):
        entry = _sub(
            root,
            tag("vnic"),
            name=meta.name,
            plugged=None if meta.plugged else "no",
            linked="yes" if meta.linked else "no",
        )
        if meta.interface is not None:
            card = copy.deepcopy(meta.interface)
            for element in card.iter(etree.Element):
                element.tag = tag(element.tag)
            entry.append(card)
    return root


def meta_for(vnic: Vnic, iface: etree._Element) -> Meta | None:
    """What plugboard must remember of `vnic` beyond its `<interface>` (None: nothing)."""
    if not vnic.plugged:
        return Meta(vnic.name, plugged=False, linked=vnic.linked, interface=iface)
    if vnic.source is None:
        return Meta(vnic.name, plugged=True, linked=vnic.linked)
    return None


def to_string(iface: etree._Element) -> str:
    return etree.tostring(iface, encoding="unicode")
