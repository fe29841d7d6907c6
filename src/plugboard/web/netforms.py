"""The network forms' fields, turned into what the API takes: the network's JSON form for the
create form, a section's XML for net-update. The engine checks both, as for the API."""

from __future__ import annotations

from typing import Any

from lxml import etree

from plugboard.errors import InvalidInput
from plugboard.web.core import Form

# The create form's modes: (value, label). libvirt's forward mode follows from each.
MODES = [
    ("nat", "NAT"),
    ("route", "Routed"),
    ("open", "Open"),
    ("isolated", "Isolated"),
    ("bridge", "Host bridge"),
    ("macvtap", "macvtap pool"),
    ("ovs", "Open vSwitch bridge"),
]
OWN_BRIDGE = {"nat", "route", "open", "isolated"}  # libvirt makes the bridge (name optional)


def network_json(posted: Form) -> dict[str, Any]:
    """The network's JSON form (plugboard.netxml) from the create form's fields."""
    mode = posted.text("mode") or "nat"
    if mode not in dict(MODES):
        raise InvalidInput(f"mode must be one of {', '.join(m for m, _ in MODES)}", field="mode")
    doc: dict[str, Any] = {"name": posted.text("name")}
    bridge = posted.text("bridge")
    if mode in ("nat", "route", "open"):
        doc["forward"] = {"mode": mode}
    elif mode in ("bridge", "ovs"):
        if not bridge:
            raise InvalidInput(
                f"a {dict(MODES)[mode]} network needs the bridge's name", field="bridge"
            )
        doc["forward"] = {"mode": "bridge"}
        if mode == "ovs":
            doc["virtualport"] = {"type": "openvswitch"}
    elif mode == "macvtap":
        devs = [d.strip() for d in posted.text("devs").split(",") if d.strip()]
        if not devs:
            raise InvalidInput("a macvtap pool needs one or more host interfaces", field="devs")
        doc["forward"] = {"mode": "bridge", "interfaces": [{"dev": d} for d in devs]}
    if bridge and mode != "macvtap":
        doc["bridge"] = {"name": bridge, **({"stp": "on"} if mode in OWN_BRIDGE else {})}
    ips = [ip for ip in (_ip(posted, "ipv4"), _ip(posted, "ipv6")) if ip]
    if ips:
        doc["ips"] = ips
    return doc


def _ip(posted: Form, family: str) -> dict[str, Any] | None:
    """One <ip> from `FAMILY` (address/prefix) and `FAMILY_start`, `FAMILY_end`."""
    cidr = posted.text(family)
    start, end = posted.text(f"{family}_start"), posted.text(f"{family}_end")
    if not cidr:
        if start or end:
            raise InvalidInput(f"a DHCP range needs the {family} subnet", field=family)
        return None
    address, slash, prefix = cidr.partition("/")
    if not slash or not prefix.isdigit():
        raise InvalidInput(
            f"'{cidr}' must be the network's address and prefix, as 192.168.100.1/24",
            field=family,
        )
    ip: dict[str, Any] = {"address": address, "prefix": int(prefix)}
    if family == "ipv6":
        ip["family"] = "ipv6"
    if start or end:
        ip["dhcp"] = {"ranges": [{"start": start, "end": end}]}
    return ip


def dhcp_host_xml(posted: Form) -> str:
    """<host mac= name= ip=/> of ip-dhcp-host, attributes left out when empty."""
    element = etree.Element("host")
    for attr in ("mac", "name", "ip"):
        if value := posted.text(attr):
            element.set(attr, value)
    return etree.tostring(element, encoding="unicode")


def dns_host_xml(posted: Form) -> str:
    """<host ip=><hostname>...</hostname></host> of dns-host."""
    element = etree.Element("host")
    if ip := posted.text("ip"):
        element.set("ip", ip)
    for name in posted.text("hostname").split():
        etree.SubElement(element, "hostname").text = name
    return etree.tostring(element, encoding="unicode")
