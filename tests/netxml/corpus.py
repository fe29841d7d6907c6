"""Network documents for the netxml tests: the files in tests/data/netxml, and a hypothesis
strategy that writes networks of every forward mode with every sub-element."""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path

from hypothesis import strategies as st
from lxml import etree

DATA = Path(__file__).resolve().parents[1] / "data" / "netxml"
VALID = sorted(DATA.glob("*.xml"))
INVALID = sorted((DATA / "invalid").glob("*.xml"))
BRIDGED = (None, "nat", "route", "open")


def pinned(xml: str, tag: str) -> str:
    """`xml` with what libvirt would otherwise fill in at random (uuid, the bridge name and MAC
    of a network with its own bridge) set, and its name prefixed with `tag`."""
    root = etree.fromstring(xml.encode())
    name = root.find("name")
    if name is not None:
        name.text = f"{tag}{name.text or ''}"
    if root.find("uuid") is None:
        node = etree.Element("uuid")
        node.text = str(uuid.uuid5(uuid.NAMESPACE_URL, xml + tag))
        root.insert(1 if name is not None else 0, node)
    forward = root.find("forward")
    mode = None if forward is None else forward.get("mode", "nat")
    if mode in BRIDGED:
        bridge = root.find("bridge")
        if bridge is None:
            bridge = etree.SubElement(root, "bridge")
        if bridge.get("name") is None:
            bridge.set("name", f"pbx{abs(hash(xml + tag)) % 10**8}")
        if root.find("mac") is None:
            etree.SubElement(root, "mac", address="52:54:00:0a:0b:0c")
    return etree.tostring(root, encoding="unicode")


# --- generated networks ----------------------------------------------------------------------
names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
devs = st.sampled_from(["eth0", "eth1", "ens3", "p1p1", "enp2s0f1"])
yesno = st.sampled_from(["yes", "no"])
rates = st.fixed_dictionaries(
    {}, optional={k: st.integers(0, 10**6).map(str) for k in ("average", "peak", "burst", "floor")}
)


def _el(tag: str, attrs: dict | None = None, *children) -> etree._Element:
    elem = etree.Element(tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    for child in children:
        if child is not None:
            elem.append(child)
    return elem


@st.composite
def bandwidths(draw) -> etree._Element:
    inbound, outbound = draw(st.none() | rates), draw(st.none() | rates)
    return _el(
        "bandwidth",
        {},
        None if inbound is None else _el("inbound", inbound),
        None if outbound is None else _el("outbound", outbound),
    )


@st.composite
def vlans(draw) -> etree._Element:
    tags = draw(st.lists(st.integers(0, 4095), min_size=1, max_size=3, unique=True))
    vlan = _el("vlan", {"trunk": draw(st.none() | yesno)})
    for tag in tags:
        vlan.append(
            _el(
                "tag",
                {
                    "id": str(tag),
                    "nativeMode": draw(st.none() | st.sampled_from(["tagged", "untagged"])),
                },
            )
        )
    return vlan


@st.composite
def virtualports(draw) -> etree._Element:
    kind = draw(st.sampled_from(["openvswitch", "802.1Qbg", "802.1Qbh"]))
    params = {}
    if kind == "openvswitch":
        params = draw(st.fixed_dictionaries({}, optional={"profileid": names}))
    elif kind == "802.1Qbh":
        params = {"profileid": draw(names)}
    else:
        params = {
            "managerid": str(draw(st.integers(0, 255))),
            "typeid": str(draw(st.integers(0, 2**24 - 1))),
            "typeidversion": str(draw(st.integers(0, 255))),
        }
    return _el("virtualport", {"type": kind}, _el("parameters", params) if params else None)


@st.composite
def portgroups(draw, vlan_ok: bool, vport_ok: bool) -> etree._Element:
    return _el(
        "portgroup",
        {
            "name": draw(names),
            "default": draw(st.none() | yesno),
            "trustGuestRxFilters": draw(st.none() | yesno),
        },
        draw(vlans()) if vlan_ok and draw(st.booleans()) else None,
        draw(virtualports()) if vport_ok and draw(st.booleans()) else None,
        draw(bandwidths()) if draw(st.booleans()) else None,
    )


@st.composite
def ipv4s(draw, n: int) -> etree._Element:
    prefix = draw(st.integers(8, 30))
    subnet = ipaddress.ip_network(f"10.{n}.0.0/{prefix}", strict=False)
    size = subnet.num_addresses
    address = subnet.network_address + 1
    attrs = {"address": str(address)}
    if draw(st.booleans()):
        attrs["prefix"] = str(prefix)
    else:
        attrs["netmask"] = str(subnet.netmask)
    attrs["localPtr"] = draw(st.none() | yesno)
    ip = _el("ip", attrs)
    if draw(st.booleans()):
        ip.append(_el("tftp", {"root": "/srv/tftp"}))
    if draw(st.booleans()):
        dhcp = _el("dhcp")
        start = draw(st.integers(1, size - 1))
        end = draw(st.integers(start, min(size, start + 300)))  # may reach broadcast and past
        rng = _el(
            "range",
            {
                "start": str(subnet.network_address + start),
                "end": str(subnet.network_address + end),
            },
        )
        if draw(st.booleans()):
            rng.append(
                _el(
                    "lease",
                    {
                        "expiry": str(draw(st.integers(0, 5000))),
                        "unit": draw(st.none() | st.sampled_from(["seconds", "minutes", "hours"])),
                    },
                )
            )
        dhcp.append(rng)
        for i in range(draw(st.integers(0, 2))):
            dhcp.append(
                _el(
                    "host",
                    {
                        "mac": f"52:54:00:00:{n:02x}:{i:02x}",
                        "name": draw(st.none() | names),
                        "ip": str(subnet.network_address + 2 + i),
                    },
                )
            )
        if draw(st.booleans()):
            dhcp.append(_el("bootp", {"file": "pxelinux.0"}))
        ip.append(dhcp)
    return ip


@st.composite
def ipv6s(draw, n: int) -> etree._Element:
    ip = _el(
        "ip",
        {
            "family": draw(st.none() | st.just("ipv6")),
            "address": f"fd00:{n}::1",
            "prefix": str(draw(st.sampled_from([64, 64, 96, 120, 129]))),
        },
    )
    if draw(st.booleans()):
        ip.append(
            _el("dhcp", {}, _el("range", {"start": f"fd00:{n}::100", "end": f"fd00:{n}::1ff"}))
        )
    return ip


@st.composite
def forwards(draw, mode: str) -> etree._Element:
    forward = _el("forward", {"mode": mode})
    if mode == "nat" and draw(st.booleans()):
        start = draw(st.integers(1024, 60000))
        nat = _el(
            "nat",
            {"ipv6": draw(st.none() | yesno)},
            _el("port", {"start": str(start), "end": str(start + 100)}),
        )
        if draw(st.booleans()):
            nat.append(
                _el(
                    "address",
                    {
                        "start": "192.0.2.10",
                        "end": draw(st.sampled_from(["192.0.2.20", "192.0.2.10"])),
                    },
                )
            )
        forward.append(nat)
    if mode in ("bridge", "private", "vepa", "passthrough") and draw(st.booleans()):
        for dev in draw(st.lists(devs, min_size=1, max_size=3)):
            forward.append(_el("interface", {"dev": dev}))
    if mode == "hostdev":
        forward.set("managed", draw(yesno))
        if draw(st.booleans()):
            forward.append(_el("driver", {"name": "vfio"}))
        if draw(st.booleans()):
            forward.append(_el("pf", {"dev": draw(devs)}))
        else:
            for slot in draw(st.lists(st.integers(0, 31), min_size=1, max_size=3)):
                forward.append(
                    _el(
                        "address",
                        {
                            "type": "pci",
                            "domain": "0x0000",
                            "bus": "0x03",
                            "slot": hex(slot),
                            "function": "0x1",
                        },
                    )
                )
    return forward


@st.composite
def dnss(draw) -> etree._Element:
    dns = _el(
        "dns", {"enable": draw(st.none() | yesno), "forwardPlainNames": draw(st.none() | yesno)}
    )
    if draw(st.booleans()):
        dns.append(_el("txt", {"name": draw(names), "value": "v=1 & <x>"}))
    if draw(st.booleans()):
        dns.append(_el("forwarder", {"addr": "192.0.2.53", "domain": draw(st.none() | names)}))
    if draw(st.booleans()):
        dns.append(
            _el(
                "srv",
                {
                    "service": "ldap",
                    "protocol": draw(st.sampled_from(["tcp", "udp"])),
                    "target": "ldap.example.org",
                    "port": draw(st.none() | st.integers(0, 65535).map(str)),
                    "priority": draw(st.none() | st.integers(0, 10).map(str)),
                },
            )
        )
    if draw(st.booleans()):
        host = _el("host", {"ip": "10.1.0.50"})
        for name in draw(st.lists(names, min_size=1, max_size=2)):
            etree.SubElement(host, "hostname").text = name
        dns.append(host)
    return dns


@st.composite
def own_bridge_parts(draw) -> list[etree._Element]:
    """What a network with its own bridge (isolated, nat, route, open) may have."""
    parts = [
        _el(
            "bridge",
            {
                "stp": draw(st.none() | st.sampled_from(["on", "off"])),
                "delay": draw(st.none() | st.integers(0, 5).map(str)),
            },
        )
    ]
    if draw(st.booleans()):
        parts.append(_el("mtu", {"size": str(draw(st.integers(68, 9000)))}))
    if draw(st.booleans()):
        parts.append(_el("domain", {"name": "example.org", "localOnly": draw(st.none() | yesno)}))
    if draw(st.booleans()):
        parts.append(draw(dnss()))
    if draw(st.booleans()):
        parts.append(_el("mac", {"address": "52:54:00:AB:cd:01"}))
    parts += [draw(ipv4s(n + 1)) for n in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        parts.append(draw(ipv6s(1)))
    if draw(st.booleans()):
        parts.append(_el("port", {"isolated": draw(yesno)}))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(
            _el(
                "route",
                {
                    "address": draw(st.sampled_from(["198.51.100.0", "198.51.100.64"])),
                    "prefix": str(draw(st.integers(16, 32))),
                    "gateway": draw(st.sampled_from(["10.1.0.9", "203.0.113.1"])),
                    "metric": draw(st.none() | st.integers(1, 100).map(str)),
                },
            )
        )
    return parts


@st.composite
def networks(draw) -> str:
    """A network of any forward mode with any of its sub-elements, valid or (often) not."""
    mode = draw(
        st.sampled_from(
            [None, "nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev"]
        )
    )
    root = _el(
        "network", {"trustGuestRxFilters": draw(st.none() | yesno), "ipv6": draw(st.none() | yesno)}
    )
    etree.SubElement(root, "name").text = draw(names)
    if draw(st.booleans()):
        meta = etree.SubElement(root, "metadata")
        etree.SubElement(
            meta,
            "{http://example.org/app}tag",
            nsmap={"app": "http://example.org/app"},
            attrib={"k": draw(names)},
        ).text = draw(names)
    if mode is not None:
        root.append(draw(forwards(mode)))
    if mode in BRIDGED:
        root.extend(draw(own_bridge_parts()))
    elif mode == "bridge" and len(root.find("forward")) == 0:
        root.append(_el("bridge", {"name": "br0"}))
    ovs = mode == "bridge" and draw(st.booleans())
    if ovs:
        root.append(_el("virtualport", {"type": "openvswitch"}))
    elif draw(st.booleans()):
        root.append(draw(virtualports()))
    if draw(st.booleans()):
        root.append(draw(bandwidths()))
    if draw(st.booleans()):
        root.append(draw(vlans()))
    for _ in range(draw(st.integers(0, 2))):
        root.append(draw(portgroups(vlan_ok=True, vport_ok=ovs)))
    return etree.tostring(root, encoding="unicode")
