"""The libvirt network format (libvirt 9.0, network.rng), one declaration per field.

The field lists are in the order libvirt's formatter writes them (network_conf.c,
netdev_*_conf.c); the JSON form uses the same names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal, Self, get_args

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
    Children,
    Node,
    TextElem,
    TextElems,
    choice,
)

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
# A macvtap's modes: those of a direct <interface>'s source, and a network whose forward mode
# is one of them hands its vNICs macvtaps (from a pool of host interfaces).
MacvtapMode = Literal["bridge", "vepa", "private", "passthrough"]
MACVTAP_MODES: tuple[MacvtapMode, ...] = get_args(MacvtapMode)
ForwardMode = Literal["nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev"]
FORWARD_MODES: tuple[ForwardMode, ...] = get_args(ForwardMode)


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
    average = Attr(conv=ULONG)
    peak = Attr(conv=ULONG)
    floor = Attr(conv=ULONG)
    burst = Attr(conv=ULONG)


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
    inbound = Child(Inbound)
    outbound = Child(Outbound)

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
    id = Attr(conv=UINT)
    native_mode = Attr("nativeMode", conv=choice("tagged", "untagged"))


class Vlan(Node):
    TAG = "vlan"
    trunk = Attr(conv=YESNO)
    tags = Children(VlanTag)

    @classmethod
    def from_element(cls, elem: etree._Element, path: str) -> Self:
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
    managerid = Attr(conv=UINT)
    typeid = Attr(conv=UINT)
    typeidversion = Attr(conv=UINT)
    instanceid = Attr(conv=UUID)
    profileid = Attr()
    interfaceid = Attr(conv=UUID)


class VirtualPort(Node):
    TAG = "virtualport"
    type = Attr(conv=choice("802.1Qbg", "802.1Qbh", "openvswitch", "midonet"))
    parameters = Child(VirtualPortParameters)


# --- forward -----------------------------------------------------------------------------------
class ForwardInterface(Node):
    TAG = "interface"
    dev = Attr()
    connections = Attr(conv=UINT)


class PciAddress(Node):
    TAG = "address"
    type = Attr(conv=choice("pci"))
    domain = Attr(conv=PCI_DOMAIN)
    bus = Attr(conv=PCI_BUS)
    slot = Attr(conv=PCI_SLOT)
    function = Attr(conv=PCI_FUNCTION)
    connections = Attr(conv=UINT)

    def attributes(self) -> Iterator[tuple[str, str]]:
        # libvirt 9.0 keeps a pool device's connection count but never writes it.
        return ((k, v) for k, v in super().attributes() if k != "connections")

    def after_parse(self, elem: etree._Element, path: str) -> None:
        self.domain = self.domain or 0
        for name in ("bus", "slot", "function"):
            if getattr(self, name) is None:
                setattr(self, name, 0)


class Pf(Node):
    TAG = "pf"
    dev = Attr()


class Driver(Node):
    TAG = "driver"
    name = Attr(conv=choice("kvm", "vfio", "xen"))


class NatAddress(Node):
    TAG = "address"
    start = Attr(conv=IPV4)
    end = Attr(conv=IPV4)


class NatPort(Node):
    TAG = "port"
    start = Attr(conv=USHORT)
    end = Attr(conv=USHORT)


class Nat(Node):
    TAG = "nat"
    ipv6 = Attr(conv=YESNO)
    address = Child(NatAddress)
    port = Child(NatPort)


class Forward(Node):
    TAG = "forward"
    dev = Attr()
    mode = Attr(conv=choice(*FORWARD_MODES))
    managed = Attr(conv=YESNO)
    driver = Child(Driver)
    nat = Child(Nat)
    pfs = Children(Pf)
    interfaces = Children(ForwardInterface)
    addresses = Children(PciAddress)

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

    def attributes(self) -> Iterator[tuple[str, str]]:
        dev = self.interfaces[0].dev if self.interfaces and not self.pfs else None
        if dev is not None:
            yield "dev", dev
        yield "mode", self.mode or "nat"
        if self.mode == "hostdev":
            yield "managed", "yes" if self.managed == "yes" else "no"


# --- addressing --------------------------------------------------------------------------------
class Lease(Node):
    TAG = "lease"
    expiry = Attr(conv=ULONG)
    unit = Attr(conv=choice("seconds", "minutes", "hours"))

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
    start = Attr(conv=IP)
    end = Attr(conv=IP)
    lease = Child(Lease)


class DhcpHost(Node):
    TAG = "host"
    # libvirt keeps a DHCP host's MAC as written (it is handed to dnsmasq as text).
    mac = Attr(conv=MAC_AS_GIVEN)
    id = Attr()
    name = Attr()
    ip = Attr(conv=IP)
    lease = Child(Lease)


class Bootp(Node):
    TAG = "bootp"
    file = Attr()
    server = Attr()


class Dhcp(Node):
    TAG = "dhcp"
    ranges = Children(DhcpRange)
    hosts = Children(DhcpHost)
    bootp = Child(Bootp)

    def included(self) -> bool:
        # libvirt keeps <dhcp> only with a range or a host (a lone <bootp> is dropped).
        return bool(self.ranges or self.hosts)


class Tftp(Node):
    TAG = "tftp"
    root = Attr()


class Ip(Node):
    TAG = "ip"
    family = Attr(conv=choice("ipv4", "ipv6"))
    address = Attr(conv=IP)
    netmask = Attr(conv=IPV4)
    prefix = Attr(conv=UINT)
    local_ptr = Attr("localPtr", conv=YESNO)
    tftp = Child(Tftp)
    dhcp = Child(Dhcp)

    def after_parse(self, elem: etree._Element, path: str) -> None:
        if self.prefix == 0:
            self.prefix = None  # libvirt writes a prefix only when it is above 0

    ALWAYS_CLOSE = True


class Route(Node):
    TAG = "route"
    family = Attr(conv=choice("ipv4", "ipv6"))
    address = Attr(conv=IP)
    netmask = Attr(conv=IPV4)
    prefix = Attr(conv=UINT)
    gateway = Attr(conv=IP)
    metric = Attr(conv=UINT)


# --- DNS ---------------------------------------------------------------------------------------
class DnsForwarder(Node):
    TAG = "forwarder"
    domain = Attr()
    addr = Attr(conv=IP)


class DnsTxt(Node):
    TAG = "txt"
    name = Attr()
    value = Attr()


class DnsSrv(Node):
    TAG = "srv"
    service = Attr()
    protocol = Attr(conv=choice("tcp", "udp"))
    domain = Attr()
    target = Attr()
    port = Attr(conv=USHORT)
    priority = Attr(conv=USHORT)
    weight = Attr(conv=USHORT)

    def after_parse(self, elem: etree._Element, path: str) -> None:
        if self.port == 0:  # libvirt refuses it ("invalid DNS SRV port attribute")
            raise NetworkXMLError(f"{path}/@port", "0 is not a port; give 1-65535 or leave it out")
        for name in ("priority", "weight"):
            if getattr(self, name) == 0:
                setattr(self, name, None)  # libvirt writes these only when above 0

    def included(self) -> bool:
        return bool(self.service and self.protocol)  # libvirt drops an incomplete record


class DnsHost(Node):
    TAG = "host"
    ip = Attr(conv=IP)
    hostnames = TextElems("hostname")

    ALWAYS_CLOSE = True


class Dns(Node):
    TAG = "dns"
    enable = Attr(conv=YESNO)
    forward_plain_names = Attr("forwardPlainNames", conv=YESNO)
    forwarders = Children(DnsForwarder)
    txts = Children(DnsTxt)
    srvs = Children(DnsSrv)
    hosts = Children(DnsHost)

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
    name = Attr()
    zone = Attr()
    stp = Attr(conv=ONOFF)
    delay = Attr(conv=UINT)
    mac_table_manager = Attr("macTableManager", conv=choice("kernel", "libvirt"))

    @classmethod
    def from_element(cls, elem: etree._Element, path: str) -> Self:
        # libvirt 9.0 reads any stp other than 'off' as on (it refuses nothing there).
        if elem.get("stp") not in (None, "on", "off"):
            elem = _copy_with(elem, stp="on")
        return super().from_element(elem, path)


class Mtu(Node):
    TAG = "mtu"
    size = Attr(conv=UINT)


class Mac(Node):
    TAG = "mac"
    address = Attr(conv=MAC)


class Domain(Node):
    TAG = "domain"
    name = Attr()
    local_only = Attr("localOnly", conv=YESNO)


class Port(Node):
    TAG = "port"
    isolated = Attr(conv=YESNO)


class Portgroup(Node):
    TAG = "portgroup"
    name = Attr()
    default = Attr(conv=YESNO)
    trust_guest_rx_filters = Attr("trustGuestRxFilters", conv=YESNO)
    vlan = Child(Vlan)
    virtualport = Child(VirtualPort)
    bandwidth = Child(Bandwidth)

    def after_parse(self, elem: etree._Element, path: str) -> None:
        if self.default == "no":
            self.default = None  # libvirt writes default='yes' only
        self.bandwidth = _non_empty(self.bandwidth)

    ALWAYS_CLOSE = True


class DnsmasqOption(Node):
    TAG = "option"
    value = Attr()

    def tag(self) -> str:
        return "dnsmasq:option"


class DnsmasqOptions(Node):
    TAG = "options"
    options = Children(DnsmasqOption, f"{{{DNSMASQ_NS}}}option")

    def tag(self) -> str:
        return "dnsmasq:options"


def drop_runtime_state(net: Network) -> None:
    """Forget what only a running network has (connection counts): libvirt ignores it in a
    definition."""
    net.connections = None
    if net.forward is not None:
        for device in net.forward.interfaces:
            device.connections = None
        for address in net.forward.addresses:
            address.connections = None


class Network(Node):
    TAG = "network"
    connections = Attr(conv=UINT)
    ipv6 = Attr(conv=YESNO)
    trust_guest_rx_filters = Attr("trustGuestRxFilters", conv=YESNO)
    name = TextElem()
    uuid = TextElem(conv=UUID)
    metadata = Blob()
    forward = Child(Forward)
    bridge = Child(Bridge)
    mtu = Child(Mtu)
    mac = Child(Mac)
    domain = Child(Domain)
    dns = Child(Dns)
    vlan = Child(Vlan)
    bandwidth = Child(Bandwidth)
    port = Child(Port)
    ips = Children(Ip)
    routes = Children(Route)
    virtualport = Child(VirtualPort)
    portgroups = Children(Portgroup)
    dnsmasq_options = Child(DnsmasqOptions, f"{{{DNSMASQ_NS}}}options")
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

    def attributes(self) -> Iterator[tuple[str, str]]:
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
