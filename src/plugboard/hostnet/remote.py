"""Interfaces as libvirt reports them: its interface driver (virConnectListAllInterfaces) and
its node devices of the net capability. This is what plugboard can see of a host it reaches
only through libvirt."""

from __future__ import annotations

from lxml import etree

from plugboard.hostnet.model import HostInterface
from plugboard.hosts.adapter import Libvirt

CANNOT_SEE = [
    "Open vSwitch bridges and their ports (OVSDB is not reachable through libvirt)",
    "macvtap, veth and tap devices, and the parent and mode of a macvtap",
    "interfaces libvirt's interface driver does not list (it reads udev's database)",
]
TYPES = {"ethernet": "nic", "bridge": "bridge", "bond": "bond", "vlan": "vlan"}


def _addresses(root: etree._Element) -> list[str]:
    return [
        f"{ip.get('address')}/{ip.get('prefix')}"
        for ip in root.iterfind("protocol/ip")
        if ip.get("address")
    ]


def _interfaces(lv: Libvirt) -> dict[str, HostInterface]:
    found: dict[str, HostInterface] = {}
    for xml in lv.interface_definitions():
        root = etree.fromstring(xml.encode())
        name = root.get("name", "")
        kind = root.get("type", "")
        mtu = root.find("mtu")
        link = root.find("link")
        mac = root.find("mac")
        found[name] = HostInterface(
            name=name,
            type="loopback" if name == "lo" else TYPES.get(kind, "other"),
            state=link.get("state", "unknown") if link is not None else "unknown",
            mac=mac.get("address") if mac is not None else None,
            mtu=int(mtu.get("size", "0")) if mtu is not None else None,
            addresses=_addresses(root),
        )
        ports = root.find(kind) if kind in ("bridge", "bond") else None
        if ports is not None:
            found[name].ports = [p.get("name", "") for p in ports.iterfind("interface")]
            found[name].mode = ports.get("mode")
        vlan = root.find("vlan") if kind == "vlan" else None
        if vlan is not None:
            found[name].vlan_id = int(vlan.get("tag", "0"))
            parent = vlan.find("interface")
            found[name].parent = parent.get("name") if parent is not None else None
    return found


def read(lv: Libvirt) -> list[HostInterface]:
    found = _interfaces(lv)
    for xml in lv.net_device_definitions():
        cap = etree.fromstring(xml.encode()).find("capability[@type='net']")
        name = cap.findtext("interface") if cap is not None else None
        if cap is None or not name or name in found:
            continue
        link = cap.find("link")
        found[name] = HostInterface(
            name=name,
            type="loopback" if name == "lo" else "nic",
            state=link.get("state", "unknown") if link is not None else "unknown",
            mac=cap.findtext("address"),
        )
    for iface in found.values():
        for port in iface.ports:
            if port in found:
                found[port].master = iface.name
    return sorted(found.values(), key=lambda i: i.name)
