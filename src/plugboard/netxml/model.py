"""The libvirt network format (libvirt 9.0, network.rng), one declaration per field.

The field lists are in the order libvirt's formatter writes them (network_conf.c,
netdev_*_conf.c); the JSON form uses the same names.
"""

from __future__ import annotations

from typing import ClassVar

from lxml import etree

from plugboard.netxml.errors import NetworkXMLError
from plugboard.netxml.values import (
    IP,
    IPV4,
    MAC,
    MAC_AS_GIVEN,
    PCI_BUS,
    PCI_DOMAIN,
    PCI_FUNCTION,
    PCI_SLOT,
    UUID,
)
from plugboard.netxml.xmlmodel import (
    ONOFF,
    UINT,
    ULONG,
    USHORT,
    YESNO,
    Attr,
    Blob,
    Child,
    Node,
    TextElem,
    choice,
)

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
FORWARD_MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")


def _copy_with(elem: etree._Element, **attrs: str) -> etree._Element:
    copied = etree.fromstring(etree.tostring(elem))
    for name, value in attrs.items():
        copied.set(name, value)
    return copied


def _non_empty(bandwidth: Bandwidth | None) -> Bandwidth | None:
    """libvirt reads a <bandwidth/> with neither <inbound> nor <outbound> as none at all."""
    return None if bandwidth is None or bandwidth.bare else bandwidth


# --- QoS, VLAN, virtual port (shared with portgroups) ------------------------------------------
class Rate(Node):
    FIELDS = (
        Attr("average", conv=ULONG),
        Attr("peak", conv=ULONG),
        Attr("floor", conv=ULONG),
        Attr("burst", conv=ULONG),
    )


class Inbound(Rate):
    TAG = "inbound"


class Outbound(Rate):
    TAG = "outbound"


def check_rate(rate: Rate, where: str) -> None:
    """libvirt's rules for one direction of a <bandwidth>."""
    if rate.average is None and rate.floor is None:
        raise NetworkXMLError(where, "needs an average")
    if rate.average is None and (rate.peak is not None or rate.burst is not None):
        raise NetworkXMLError(f"{where}/@average", "peak and burst need an average")


class Bandwidth(Node):
    TAG = "bandwidth"
    FIELDS = (Child("inbound", cls=Inbound), Child("outbound", cls=Outbound))

    bare = False  # parsed from a <bandwidth/> without <inbound> or <outbound>

    def after_parse(self, elem: etree._Element, path: str) -> None:
        self.bare = self.inbound is None and self.outbound is None
        for direction in ("inbound", "outbound"):
            rate = getattr(self, direction)
            if rate is None:
                continue
            check_rate(rate, f"{path}/{direction}")
            for name in ("peak", "burst", "floor"):
                if getattr(rate, name) == 0:
                    setattr(rate, name, None)  # libvirt writes only limits above 0
            if rate.average == 0 and rate.floor is None:
                setattr(self, direction, None)  # libvirt reads average='0' as no limit

    # libvirt writes a <bandwidth> whose limits were all 0 as an empty pair of tags.
    ALWAYS_CLOSE = True


class VlanTag(Node):
    TAG = "tag"
    FIELDS = (
        Attr("id", conv=UINT),
        Attr("nativeMode", key="native_mode", conv=choice("tagged", "untagged")),
    )


class Vlan(Node):
    TAG = "vlan"
    FIELDS = (Attr("trunk", conv=YESNO), Child("tag", key="tags", cls=VlanTag, many=True))

    @classmethod
    def from_element(cls, elem, path):
        trunk = elem.get("trunk")
        if trunk is not None and trunk.lower() in ("yes", "no") and trunk not in ("yes", "no"):
            elem = _copy_with(elem, trunk=trunk.lower())  # libvirt ignores the case here
        return super().from_element(elem, path)

    def after_parse(self, elem: etree._Element, path: str) -> None:
        # libvirt implies trunk for several tags and writes trunk='yes' only.
        if self.trunk == "no" and len(self.tags) > 1:
            raise NetworkXMLError(
                f"{path}/@trunk", "trunk='no' with more than one tag; one tag, or trunk='yes'"
            )
        if self.trunk == "no" and any(t.native_mode for t in self.tags):
            raise NetworkXMLError(
                f"{path}/@trunk", "trunk='no' with a nativeMode; a native VLAN needs a trunk"
            )
        self.trunk = "yes" if self.trunk == "yes" or len(self.tags) > 1 else None


class VirtualPortParameters(Node):
    TAG = "parameters"
    FIELDS = (
        Attr("managerid", conv=UINT),
        Attr("typeid", conv=UINT),
        Attr("typeidversion", conv=UINT),
        Attr("instanceid", conv=UUID),
        Attr("profileid"),
        Attr("interfaceid", conv=UUID),
    )


class VirtualPort(Node):
    TAG = "virtualport"
    FIELDS = (
        Attr("type", conv=choice("802.1Qbg", "802.1Qbh", "openvswitch", "midonet")),
        Child("parameters", cls=VirtualPortParameters),
    )


# --- forward -----------------------------------------------------------------------------------
class ForwardInterface(Node):
    TAG = "interface"
    FIELDS = (Attr("dev"), Attr("connections", conv=UINT))


class PciAddress(Node):
    TAG = "address"
    FIELDS = (
        Attr("type", conv=choice("pci")),
        Attr("domain", conv=PCI_DOMAIN),
        Attr("bus", conv=PCI_BUS),
        Attr("slot", conv=PCI_SLOT),
        Attr("function", conv=PCI_FUNCTION),
        Attr("connections", conv=UINT),
    )

    def attributes(self):
        # libvirt 9.0 keeps a pool device's connection count but never writes it.
        return ((k, v) for k, v in super().attributes() if k != "connections")

    def after_parse(self, elem: etree._Element, path: str) -> None:
        self.domain = self.domain or 0
        for name in ("bus", "slot", "function"):
            if getattr(self, name) is None:
                setattr(self, name, 0)


class Pf(Node):
    TAG = "pf"
    FIELDS = (Attr("dev"),)


class Driver(Node):
    TAG = "driver"
    FIELDS = (Attr("name", conv=choice("kvm", "vfio", "xen")),)


class NatAddress(Node):
    TAG = "address"
    FIELDS = (Attr("start", conv=IPV4), Attr("end", conv=IPV4))


class NatPort(Node):
    TAG = "port"
    FIELDS = (Attr("start", conv=USHORT), Attr("end", conv=USHORT))


class Nat(Node):
    TAG = "nat"
    FIELDS = (
        Attr("ipv6", conv=YESNO),
        Child("address", cls=NatAddress),
        Child("port", cls=NatPort),
    )


class Forward(Node):
    TAG = "forward"
    FIELDS = (
        Attr("dev"),
        Attr("mode", conv=choice(*FORWARD_MODES)),
        Attr("managed", conv=YESNO),
        Child("driver", cls=Driver),
        Child("nat", cls=Nat),
        Child("pf", key="pfs", cls=Pf, many=True),
        Child("interface", key="interfaces", cls=ForwardInterface, many=True),
        Child("address", key="addresses", cls=PciAddress, many=True),
    )

    def after_parse(self, elem: etree._Element, path: str) -> None:
        self.mode = self.mode or "nat"
        if self.dev is not None:
            if not self.interfaces and not self.pfs:
                self.interfaces = [ForwardInterface(dev=self.dev)]
            elif self.interfaces and self.interfaces[0].dev != self.dev:
                raise NetworkXMLError(
                    f"{path}/@dev",
                    f"'{self.dev}' must match the first <interface dev> "
                    f"('{self.interfaces[0].dev}')",
                )
        self.dev = None  # derived: libvirt writes the first interface's dev

    def attributes(self):
        if self.interfaces and not self.pfs:
            yield "dev", self.interfaces[0].dev
        yield "mode", self.mode
        if self.mode == "hostdev":
            yield "managed", "yes" if self.managed == "yes" else "no"


# --- addressing --------------------------------------------------------------------------------
class Lease(Node):
    TAG = "lease"
    FIELDS = (Attr("expiry", conv=ULONG), Attr("unit", conv=choice("seconds", "minutes", "hours")))

    def after_parse(self, elem: etree._Element, path: str) -> None:
        if self.expiry is None:
            raise NetworkXMLError(f"{path}/@expiry", "missing; give a lease time (0: infinite)")
        self.unit = None if self.expiry == 0 else (self.unit or "minutes")
        seconds = self.expiry * {"seconds": 1, "minutes": 60, "hours": 3600, None: 0}[self.unit]
        if 0 < seconds < 120:
            raise NetworkXMLError(
                f"{path}/@expiry",
                f"{self.expiry} {self.unit} is too short; "
                "a lease lasts 2 minutes at least (0: "
                "infinite)",
            )


class DhcpRange(Node):
    TAG = "range"
    FIELDS = (Attr("start", conv=IP), Attr("end", conv=IP), Child("lease", cls=Lease))


class DhcpHost(Node):
    TAG = "host"
    # libvirt keeps a DHCP host's MAC as written (it is handed to dnsmasq as text).
    FIELDS = (
        Attr("mac", conv=MAC_AS_GIVEN),
        Attr("id"),
        Attr("name"),
        Attr("ip", conv=IP),
        Child("lease", cls=Lease),
    )


class Bootp(Node):
    TAG = "bootp"
    FIELDS = (Attr("file"), Attr("server"))


class Dhcp(Node):
    TAG = "dhcp"
    FIELDS = (
        Child("range", key="ranges", cls=DhcpRange, many=True),
        Child("host", key="hosts", cls=DhcpHost, many=True),
        Child("bootp", cls=Bootp),
    )

    def included(self) -> bool:
        # libvirt keeps <dhcp> only with a range or a host (a lone <bootp> is dropped).
        return bool(self.ranges or self.hosts)


class Tftp(Node):
    TAG = "tftp"
    FIELDS = (Attr("root"),)


class Ip(Node):
    TAG = "ip"
    FIELDS = (
        Attr("family", conv=choice("ipv4", "ipv6")),
        Attr("address", conv=IP),
        Attr("netmask", conv=IPV4),
        Attr("prefix", conv=UINT),
        Attr("localPtr", key="local_ptr", conv=YESNO),
        Child("tftp", cls=Tftp),
        Child("dhcp", cls=Dhcp),
    )

    def after_parse(self, elem: etree._Element, path: str) -> None:
        if self.prefix == 0:
            self.prefix = None  # libvirt writes a prefix only when it is above 0

    ALWAYS_CLOSE = True


class Route(Node):
    TAG = "route"
    FIELDS = (
        Attr("family", conv=choice("ipv4", "ipv6")),
        Attr("address", conv=IP),
        Attr("netmask", conv=IPV4),
        Attr("prefix", conv=UINT),
        Attr("gateway", conv=IP),
        Attr("metric", conv=UINT),
    )


# --- DNS ---------------------------------------------------------------------------------------
class DnsForwarder(Node):
    TAG = "forwarder"
    FIELDS = (Attr("domain"), Attr("addr", conv=IP))


class DnsTxt(Node):
    TAG = "txt"
    FIELDS = (Attr("name"), Attr("value"))


class DnsSrv(Node):
    TAG = "srv"
    FIELDS = (
        Attr("service"),
        Attr("protocol", conv=choice("tcp", "udp")),
        Attr("domain"),
        Attr("target"),
        Attr("port", conv=USHORT),
        Attr("priority", conv=USHORT),
        Attr("weight", conv=USHORT),
    )

    def after_parse(self, elem: etree._Element, path: str) -> None:
        for name in ("port", "priority", "weight"):
            if getattr(self, name) == 0:
                setattr(self, name, None)  # libvirt writes these only when above 0

    def included(self) -> bool:
        return bool(self.service and self.protocol)  # libvirt drops an incomplete record


class DnsHost(Node):
    TAG = "host"
    FIELDS = (Attr("ip", conv=IP), TextElem("hostname", key="hostnames", many=True))

    ALWAYS_CLOSE = True


class Dns(Node):
    TAG = "dns"
    FIELDS = (
        Attr("enable", conv=YESNO),
        Attr("forwardPlainNames", key="forward_plain_names", conv=YESNO),
        Child("forwarder", key="forwarders", cls=DnsForwarder, many=True),
        Child("txt", key="txts", cls=DnsTxt, many=True),
        Child("srv", key="srvs", cls=DnsSrv, many=True),
        Child("host", key="hosts", cls=DnsHost, many=True),
    )

    def included(self) -> bool:
        return bool(
            self.forwarders
            or self.txts
            or self.srvs
            or self.hosts
            or self.enable is not None
            or self.forward_plain_names is not None
        )


# --- the rest of <network> --------------------------------------------------------------------
class Bridge(Node):
    TAG = "bridge"
    FIELDS = (
        Attr("name"),
        Attr("zone"),
        Attr("stp", conv=ONOFF),
        Attr("delay", conv=UINT),
        Attr("macTableManager", key="mac_table_manager", conv=choice("kernel", "libvirt")),
    )

    @classmethod
    def from_element(cls, elem, path):
        # libvirt 9.0 reads any stp other than 'off' as on (it refuses nothing there).
        if elem.get("stp") not in (None, "on", "off"):
            elem = _copy_with(elem, stp="on")
        return super().from_element(elem, path)


class Mtu(Node):
    TAG = "mtu"
    FIELDS = (Attr("size", conv=UINT),)


class Mac(Node):
    TAG = "mac"
    FIELDS = (Attr("address", conv=MAC),)


class Domain(Node):
    TAG = "domain"
    FIELDS = (Attr("name"), Attr("localOnly", key="local_only", conv=YESNO))


class Port(Node):
    TAG = "port"
    FIELDS = (Attr("isolated", conv=YESNO),)


class Portgroup(Node):
    TAG = "portgroup"
    FIELDS = (
        Attr("name"),
        Attr("default", conv=YESNO),
        Attr("trustGuestRxFilters", key="trust_guest_rx_filters", conv=YESNO),
        Child("vlan", cls=Vlan),
        Child("virtualport", cls=VirtualPort),
        Child("bandwidth", cls=Bandwidth),
    )

    def after_parse(self, elem: etree._Element, path: str) -> None:
        if self.default == "no":
            self.default = None  # libvirt writes default='yes' only
        self.bandwidth = _non_empty(self.bandwidth)

    ALWAYS_CLOSE = True


class DnsmasqOption(Node):
    TAG = "option"
    FIELDS = (Attr("value"),)

    def tag(self) -> str:
        return "dnsmasq:option"


class DnsmasqOptions(Node):
    TAG = "options"
    FIELDS = (Child(f"{{{DNSMASQ_NS}}}option", key="options", cls=DnsmasqOption, many=True),)

    def tag(self) -> str:
        return "dnsmasq:options"


def drop_runtime_state(net: Network) -> None:
    """Forget what only a running network has (connection counts): libvirt ignores it in a
    definition."""
    net.connections = None
    if net.forward is not None:
        for device in (*net.forward.interfaces, *net.forward.addresses):
            device.connections = None


class Network(Node):
    TAG = "network"
    FIELDS = (
        Attr("connections", conv=UINT),
        Attr("ipv6", conv=YESNO),
        Attr("trustGuestRxFilters", key="trust_guest_rx_filters", conv=YESNO),
        TextElem("name"),
        TextElem("uuid", conv=UUID),
        Blob("metadata"),
        Child("forward", cls=Forward),
        Child("bridge", cls=Bridge),
        Child("mtu", cls=Mtu),
        Child("mac", cls=Mac),
        Child("domain", cls=Domain),
        Child("dns", cls=Dns),
        Child("vlan", cls=Vlan),
        Child("bandwidth", cls=Bandwidth),
        Child("port", cls=Port),
        Child("ip", key="ips", cls=Ip, many=True),
        Child("route", key="routes", cls=Route, many=True),
        Child("virtualport", cls=VirtualPort),
        Child("portgroup", key="portgroups", cls=Portgroup, many=True),
        Child(f"{{{DNSMASQ_NS}}}options", key="dnsmasq_options", cls=DnsmasqOptions),
    )
    BRIDGED: ClassVar[tuple[str | None, ...]] = (None, "nat", "route", "open")

    def after_parse(self, elem: etree._Element, path: str) -> None:
        self.bandwidth = _non_empty(self.bandwidth)
        if self.ipv6 == "no":
            self.ipv6 = None  # libvirt writes ipv6='yes' only
        if self.connections == 0:
            self.connections = None

    @property
    def forward_mode(self) -> str | None:
        return self.forward.mode if self.forward else None

    def attributes(self):
        if self.dnsmasq_options is not None:
            yield "xmlns:dnsmasq", DNSMASQ_NS
        yield from super().attributes()

    def write_children(self, out: list[str], indent: str) -> None:
        bridge = self.bridge
        if self.forward_mode in self.BRIDGED:
            # libvirt always writes stp and delay of a network that has its own bridge.
            given = bridge.__dict__ if bridge is not None else Bridge._DEFAULTS
            bridge = Bridge.__new__(Bridge)
            bridge.__dict__.update(given)
            bridge.stp = given["stp"] or "on"
            bridge.delay = given["delay"] or 0
        elif bridge is not None and not (bridge.name or bridge.mac_table_manager):
            bridge = None
        saved, self.bridge = self.bridge, bridge
        try:
            super().write_children(out, indent)
        finally:
            self.bridge = saved
