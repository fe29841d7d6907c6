"""The checks libvirt makes when it parses a network (virNetworkDefParseXML and helpers).

Each failure raises NetworkXMLError naming the place and saying what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator

from plugboard.netxml.addresses import Address, Subnet, prefix_of_netmask
from plugboard.netxml.errors import NetworkXMLError
from plugboard.netxml.model import (
    Bandwidth,
    Dhcp,
    DhcpHost,
    DhcpRange,
    Ip,
    Network,
    Route,
    Vlan,
    check_rate,
)

BRIDGED = (None, "nat", "route", "open")


def validate_network(net: Network) -> None:
    for check in (
        _name,
        _forward,
        _bridge,
        _ips,
        _dhcp_per_family,
        _dns,
        _own_bridge_only,
        _pool,
        _bandwidths,
        _vlans,
        _portgroups,
        _routes,
    ):
        check(net)


def _fail(path: str, message: str) -> NetworkXMLError:
    return NetworkXMLError(path, message)


def _name(net: Network) -> None:
    if not net.name:
        raise _fail("/network/name", "missing; every network needs a <name>")
    for bad in ("/", "\n"):
        if bad in net.name:
            raise _fail("/network/name", f"{net.name!r} contains {bad!r}, which names cannot")


def _forward(net: Network) -> None:
    fwd = net.forward
    if fwd is None:
        return
    path = "/network/forward"
    if fwd.nat is not None and fwd.mode != "nat":
        raise _fail(f"{path}/nat", f"<nat> is only allowed with mode='nat', not '{fwd.mode}'")
    if len(fwd.pfs) > 1:
        raise _fail(f"{path}/pf[2]", "only one <pf> is supported")
    devs = [i.dev for i in fwd.interfaces]
    for i, dev in enumerate(devs, 1):
        if not dev:
            raise _fail(f"{path}/interface[{i}]/@dev", "missing; name a host interface")
        if dev in devs[: i - 1]:
            raise _fail(
                f"{path}/interface[{i}]/@dev", f"'{dev}' is listed twice; each interface once"
            )
    seen = []
    for i, addr in enumerate(fwd.addresses, 1):
        key = (addr.domain, addr.bus, addr.slot, addr.function)
        if key in seen:
            raise _fail(f"{path}/address[{i}]", "this PCI address is listed twice")
        seen.append(key)
    if fwd.mode in BRIDGED:
        if fwd.mode in ("nat", "route", "open") and not net.ips:
            raise _fail(path, f"mode='{fwd.mode}' needs an <ip> address on the network")
        if len(fwd.interfaces) > 1:
            raise _fail(
                f"{path}/interface[2]", f"mode='{fwd.mode}' takes at most one forwarding interface"
            )
        if fwd.mode == "open" and fwd.interfaces:
            raise _fail(f"{path}/@dev", "mode='open' takes no forward dev")


def _bridge(net: Network) -> None:
    mode, bridge = net.forward_mode, net.bridge
    path = "/network/bridge"
    if mode in BRIDGED:
        return
    if bridge is not None and mode in ("private", "vepa", "passthrough", "hostdev"):
        for attr, label in (
            ("name", "name"),
            ("zone", "zone"),
            ("mac_table_manager", "macTableManager"),
        ):
            if getattr(bridge, attr) is not None:
                raise _fail(
                    f"{path}/@{label}", f"a bridge {label} is not allowed with mode='{mode}'"
                )
    if bridge is not None and (bridge.delay or bridge.stp is not None or bridge.zone):
        attr = "delay" if bridge.delay else ("stp" if bridge.stp is not None else "zone")
        raise _fail(
            f"{path}/@{attr}",
            "stp, delay and zone are only allowed in route, nat, "
            f"open and isolated networks, not mode='{mode}'",
        )
    fwd = net.forward
    if bridge is not None and bridge.name and fwd is not None and (fwd.interfaces or fwd.pfs):
        raise _fail(
            "/network/forward", f"mode='{mode}' takes a bridge name or forward interfaces, not both"
        )
    if net.mtu is not None:
        raise _fail(
            "/network/mtu",
            f"an mtu is only allowed in open, route, nat and isolated networks, not mode='{mode}'",
        )


def subnet_of(ip: Ip, path: str) -> Subnet | None:
    if ip.address is None:
        return None
    address = Address.parse(ip.address)
    family = f"ipv{address.version}"
    if ip.family is None and family == "ipv6":
        raise _fail(
            f"{path}/@family", f"missing for {ip.address}; an IPv6 <ip> needs family='ipv6'"
        )
    if ip.family is not None and ip.family != family:
        raise _fail(f"{path}/@family", f"family='{ip.family}' but {ip.address} is {family}")
    if ip.netmask is not None and ip.prefix is not None:
        raise _fail(f"{path}/@prefix", "give a prefix or a netmask, not both")
    if ip.netmask is not None:
        if address.version != 4:
            raise _fail(f"{path}/@netmask", "a netmask is for IPv4; use prefix for IPv6")
        try:
            return Subnet.of(address, prefix_of_netmask(ip.netmask))
        except ValueError:
            raise _fail(f"{path}/@netmask", f"{ip.netmask} is not a valid netmask") from None
    limit = 32 if address.version == 4 else 128
    if ip.prefix is not None and ip.prefix > limit:
        raise _fail(f"{path}/@prefix", f"{ip.prefix} is too long; at most {limit} for {family}")
    prefix = ip.prefix
    if prefix is None:
        if address.version == 6:
            prefix = 64
        else:  # classful default, as libvirt's virSocketAddrPrefix does
            first = address.value >> 24
            prefix = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else None
            if prefix is None:
                raise _fail(f"{path}/@prefix", "give a prefix or netmask for this address")
    return Subnet.of(address, prefix)


def _ips(net: Network) -> None:
    for i, ip in enumerate(net.ips, 1):
        path = f"/network/ip[{i}]"
        subnet = subnet_of(ip, path)
        if subnet is None:
            if ip.dhcp is not None or ip.tftp is not None:
                raise _fail(f"{path}/@address", "missing; DHCP and TFTP need an address")
            continue
        if subnet.version == 6 and ip.tftp is not None:
            raise _fail(f"{path}/tftp", "TFTP is only supported on IPv4")
        if ip.dhcp is not None:
            _dhcp(ip.dhcp, subnet, f"{path}/dhcp")


def _dhcp(dhcp: Dhcp, subnet: Subnet, path: str) -> None:
    for r, rng in enumerate(dhcp.ranges, 1):
        check_dhcp_range(rng, subnet, f"{path}/range[{r}]")
    for h, host in enumerate(dhcp.hosts, 1):
        check_dhcp_host(host, subnet, f"{path}/host[{h}]")
    if dhcp.bootp is not None and subnet.version == 6:
        raise _fail(f"{path}/bootp", "bootp is only supported on IPv4")


def check_dhcp_range(rng: DhcpRange, subnet: Subnet, where: str) -> None:
    if rng.start is None or rng.end is None:
        attr = "start" if rng.start is None else "end"
        raise _fail(f"{where}/@{attr}", "missing; a range needs a start and an end")
    start, end = Address.parse(rng.start), Address.parse(rng.end)
    for attr, addr in (("start", start), ("end", end)):
        if addr.version != subnet.version:
            raise _fail(f"{where}/@{attr}", f"{addr} is not an IPv{subnet.version} address")
    if not (subnet.holds(start) and subnet.holds(end)):
        bad = "start" if not subnet.holds(start) else "end"
        raise _fail(f"{where}/@{bad}", f"the range {start} - {end} is not entirely within {subnet}")
    if start.value > end.value:
        raise _fail(f"{where}/@end", f"{end} comes before the start {start}")
    # libvirt counts a range's addresses in the last 16 bits only.
    if start.value >> 16 != end.value >> 16:
        raise _fail(
            f"{where}/@end",
            f"the range {start} - {end} is too large: start and end "
            "may differ in the last 16 bits only",
        )
    if subnet.version == 4 and subnet.prefixlen < 31:
        if end.value == subnet.broadcast:
            raise _fail(f"{where}/@end", f"{end} is the broadcast address of {subnet}")
        if start.value == subnet.network:
            raise _fail(f"{where}/@start", f"{start} is the address of the network itself")


def check_dhcp_host(host: DhcpHost, subnet: Subnet, where: str, partial: bool = False) -> None:
    """A static DHCP host; `partial` (to delete one) needs only enough to find it."""
    if host.name is not None and not (host.name[:1].isascii() and host.name[:1].isalnum()):
        raise _fail(f"{where}/@name", f"'{host.name}' must start with a letter or digit")
    if subnet.version == 6 and host.mac is not None:
        raise _fail(f"{where}/@mac", "IPv6 hosts are matched by id or name, not mac")
    if partial:
        return
    if subnet.version == 4 and host.mac is None and host.name is None:
        raise _fail(where, "an IPv4 host needs a mac or a name")
    if subnet.version == 6 and host.id is None and host.name is None:
        raise _fail(where, "an IPv6 host needs an id or a name")
    if host.ip is None:
        raise _fail(f"{where}/@ip", "missing; a static host needs its address")
    if Address.parse(host.ip).version != subnet.version:
        raise _fail(f"{where}/@ip", f"{host.ip} is not an IPv{subnet.version} address")


def _families(net: Network) -> Iterator[tuple[int, int]]:
    for i, ip in enumerate(net.ips, 1):
        if ip.address is not None and ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            yield i, Address.parse(ip.address).version


def _dhcp_per_family(net: Network) -> None:
    seen: dict[int, int] = {}
    for i, version in _families(net):
        if version in seen:
            raise _fail(
                f"/network/ip[{i}]/dhcp",
                f"a second IPv{version} <dhcp>; DHCP is supported on one IPv{version} address only",
            )
        seen[version] = i


def _dns(net: Network) -> None:
    dns = net.dns
    if (
        dns is not None
        and dns.enable == "no"
        and (dns.forwarders or dns.txts or dns.srvs or dns.hosts)
    ):
        raise _fail(
            "/network/dns",
            "enable='no' with forwarders, hosts, txt or srv records; drop them or enable DNS",
        )
    for i, srv in enumerate(dns.srvs if dns is not None else [], 1):
        if srv.port == 0:  # libvirt refuses it ("invalid DNS SRV port attribute")
            raise _fail(f"/network/dns/srv[{i}]/@port", "0 is not a port; give 1-65535")


def _rates(bandwidth: Bandwidth, path: str) -> None:
    for direction in ("inbound", "outbound"):
        rate = getattr(bandwidth, direction)
        if rate is None:
            continue
        where = f"{path}/{direction}"
        check_rate(rate, where)
        if rate.floor is not None:
            if direction == "outbound":
                raise _fail(f"{where}/@floor", "floor is only allowed in <inbound>")
            raise _fail(
                f"{where}/@floor",
                "floor is not supported in a network definition (only on a vNIC's <interface>)",
            )


def _bandwidth_allowed(net: Network) -> bool:
    mode = net.forward_mode
    return mode in BRIDGED or (
        mode == "bridge" and net.bridge is not None and net.bridge.name is not None
    )


def _bandwidths(net: Network) -> None:
    allowed = _bandwidth_allowed(net)
    mode = net.forward_mode
    if net.bandwidth is not None:
        _rates(net.bandwidth, "/network/bandwidth")
        if not allowed:
            raise _fail(
                "/network/bandwidth",
                f"a network-wide <bandwidth> is not supported "
                f"with mode='{mode}'; set it on the vNICs",
            )
    for i, pg in enumerate(net.portgroups, 1):
        if pg.bandwidth is None:
            continue
        path = f"/network/portgroup[{i}]/bandwidth"
        _rates(pg.bandwidth, path)
        if not allowed or mode == "hostdev":
            raise _fail(path, f"a portgroup <bandwidth> is not supported with mode='{mode}'")


def _vlan(vlan: Vlan, path: str) -> None:
    native = [t for t in vlan.tags if t.native_mode is not None]
    if len(native) > 1:
        raise _fail(f"{path}/tag", "more than one tag has a nativeMode; one native VLAN only")
    for i, tag in enumerate(vlan.tags, 1):
        if tag.id is None or tag.id > 4095:
            raise _fail(f"{path}/tag[{i}]/@id", "a VLAN id is 0..4095")


def _vlans(net: Network) -> None:
    """The network driver's rule: VLANs on hostdev and passthrough pools, and on Open vSwitch
    bridges (the network's virtualport, or a portgroup's own)."""
    mode = net.forward_mode
    net_ovs = net.virtualport is not None and net.virtualport.type == "openvswitch"
    allowed = mode in ("hostdev", "passthrough") or (mode == "bridge" and net_ovs)
    used = net.vlan is not None and bool(net.vlan.tags)
    if net.vlan is not None:
        _vlan(net.vlan, "/network/vlan")
    bad, default = None, False
    for i, pg in enumerate(net.portgroups, 1):
        path = f"/network/portgroup[{i}]/vlan"
        if pg.vlan is not None:
            _vlan(pg.vlan, path)
        if used or (pg.vlan is not None and pg.vlan.tags):
            if pg.virtualport is not None:
                if mode != "bridge" or pg.virtualport.type != "openvswitch":
                    bad = bad or path
            elif not allowed:
                bad = bad or path
        default = default or pg.default == "yes"
    if bad or (used and not allowed and not default):
        raise _fail(
            bad or "/network/vlan",
            "a <vlan> needs a network that can carry it: mode='hostdev' or "
            "'passthrough', or mode='bridge' with <virtualport type='openvswitch'/> "
            f"(this one is mode='{mode}')",
        )


def _own_bridge_only(net: Network) -> None:
    """What only a network with its own bridge (isolated, nat, route, open) can have."""
    mode = net.forward_mode
    if mode in BRIDGED:
        return
    checks = (
        ("mac", net.mac is not None),
        ("ip", bool(net.ips)),
        ("dns", net.dns is not None and bool(net.dns.txts or net.dns.hosts or net.dns.srvs)),
        ("domain", net.domain is not None),
    )
    for element, present in checks:
        if present:
            raise _fail(
                f"/network/{element}",
                f"<{element}> is only for networks with their own bridge, not mode='{mode}'",
            )


def _pool(net: Network) -> None:
    fwd = net.forward
    if fwd is None:
        return
    if fwd.mode == "hostdev" and fwd.interfaces:
        raise _fail(
            "/network/forward/interface[1]",
            "a hostdev pool lists PCI <address>es (or a <pf>), not interface names",
        )
    if fwd.mode != "hostdev" and fwd.addresses:
        raise _fail(
            "/network/forward/address[1]", f"PCI addresses are for mode='hostdev', not '{fwd.mode}'"
        )
    if (bool(fwd.pfs) + bool(fwd.interfaces) + bool(fwd.addresses)) > 1:
        raise _fail("/network/forward", "<pf>, <interface> and <address> exclude each other")


def _portgroups(net: Network) -> None:
    names: list[str] = []
    default = None
    for i, pg in enumerate(net.portgroups, 1):
        path = f"/network/portgroup[{i}]"
        if not pg.name:
            raise _fail(f"{path}/@name", "missing; every portgroup needs a name")
        if pg.name in names:
            raise _fail(f"{path}/@name", f"'{pg.name}' is used by another portgroup")
        names.append(pg.name)
        if pg.default == "yes":
            if default is not None:
                raise _fail(
                    f"{path}/@default",
                    f"portgroup '{default}' is the default already; only one may be",
                )
            default = pg.name


def _routes(net: Network) -> None:
    if not net.routes:
        return
    subnets = [subnet_of(ip, f"/network/ip[{i}]") for i, ip in enumerate(net.ips, 1)]
    for i, route in enumerate(net.routes, 1):
        path = f"/network/route[{i}]"
        if route.address is None or route.gateway is None:
            raise _fail(path, "a route needs an address and a gateway")
        address, gateway = Address.parse(route.address), Address.parse(route.gateway)
        family = f"ipv{address.version}"
        if route.family is not None and route.family != family:
            raise _fail(
                f"{path}/@family", f"family='{route.family}' but {route.address} is {family}"
            )
        if gateway.version != address.version:
            raise _fail(f"{path}/@gateway", f"{route.gateway} is not an {family} address")
        prefix = _route_prefix(route, address, path)
        if prefix is not None and Subnet.of(address, prefix).network != address.value:
            raise _fail(
                f"{path}/@address",
                f"{route.address} is not the address of a network with prefix {prefix}",
            )
        if not any(s is not None and s.holds(gateway) for s in subnets):
            raise _fail(
                f"{path}/@gateway",
                f"{route.gateway} is not on any of the "
                "network's own subnets, so it cannot be reached",
            )


def _route_prefix(route: Route, address: Address, path: str) -> int | None:
    if route.netmask is not None:
        if address.version != 4:
            raise _fail(f"{path}/@netmask", "a netmask is for IPv4; use prefix for IPv6")
        if route.prefix is not None:
            raise _fail(f"{path}/@prefix", "give a prefix or a netmask, not both")
        try:
            return prefix_of_netmask(route.netmask)
        except ValueError:
            raise _fail(f"{path}/@netmask", f"{route.netmask} is not a valid netmask") from None
    limit = 32 if address.version == 4 else 128
    if route.prefix is not None and route.prefix > limit:
        raise _fail(f"{path}/@prefix", f"{route.prefix} is too long; at most {limit}")
    return route.prefix
