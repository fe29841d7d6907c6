"""virNetworkUpdate, section by section, on the model: what libvirt does to a network's
definition for each command (add-first, add-last, modify, delete), with its rules for
duplicates, missing entries and incomplete entries. The network given is not changed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Literal, TypeVar, get_args

from lxml import etree

from plugboard.netxml.addresses import Address, Subnet, same
from plugboard.netxml.errors import NetworkXMLError
from plugboard.netxml.model import (
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsHost,
    DnsSrv,
    DnsTxt,
    ForwardInterface,
    Ip,
    Network,
    Portgroup,
)
from plugboard.netxml.safe import parse_xml
from plugboard.netxml.validate import check_dhcp_host, check_dhcp_range, subnet_of

# virNetworkUpdate's commands and sections, by the names virsh gives them ("add" is add-last).
UpdateCommand = Literal["add-first", "add-last", "add", "modify", "delete"]
COMMANDS: tuple[UpdateCommand, ...] = get_args(UpdateCommand)
UpdateSection = Literal[
    "bridge",
    "domain",
    "ip",
    "ip-dhcp-host",
    "ip-dhcp-range",
    "forward",
    "forward-interface",
    "forward-pf",
    "portgroup",
    "dns-host",
    "dns-txt",
    "dns-srv",
]
SECTIONS: tuple[UpdateSection, ...] = get_args(UpdateSection)
UNSUPPORTED = ("bridge", "domain", "ip", "forward", "forward-pf")
T = TypeVar("T")
ADD = ("add-first", "add-last")


def apply_update(
    net: Network, command: str, section: str, xml: str, parent_index: int = -1
) -> Network:
    """The network as libvirt would have it after `virNetworkUpdate(command, section, ...)`."""
    command = "add-last" if command == "add" else command
    if command not in COMMANDS:
        raise NetworkXMLError(
            "/update/@command", f"'{command}' is not a command; use one of {', '.join(COMMANDS)}"
        )
    if section in UNSUPPORTED:
        raise NetworkXMLError(
            "/update/@section",
            f"the '{section}' section cannot be updated; redefine the network instead",
        )
    handler = HANDLERS.get(section)
    if handler is None:
        raise NetworkXMLError(
            "/update/@section",
            f"'{section}' is not a section; use one of {', '.join(sorted(HANDLERS))}",
        )
    updated = copy.deepcopy(net)
    handler(updated, command, parse_xml(xml, "/update"), parent_index)
    return updated


def _expect(elem: etree._Element, tag: str) -> None:
    if elem.tag != tag:
        raise NetworkXMLError("/update", f"unexpected element <{elem.tag!s}>, expecting <{tag}>")


def _no_modify(command: str, what: str) -> None:
    if command == "modify":
        raise NetworkXMLError(
            "/update/@command", f"{what} cannot be modified, only added or deleted"
        )


def _insert(items: list[T], item: T, command: str) -> None:
    items.insert(0 if command == "add-first" else len(items), item)


# --- DHCP ----------------------------------------------------------------------------------
def _dhcp_ip(net: Network, parent_index: int) -> Ip:
    """The <ip> whose DHCP is updated: by index, or the one with DHCP, or the first IPv4, or
    the first IPv6 (libvirt's virNetworkIPDefByIndex)."""
    if parent_index >= 0:
        if parent_index >= len(net.ips):
            raise NetworkXMLError(
                "/update/@parent_index", f"there is no <ip> at index {parent_index}"
            )
        return net.ips[parent_index]
    for ip in net.ips:
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            return ip
    for version in (4, 6):
        for ip in net.ips:
            if ip.address is not None and Address.parse(ip.address).version == version:
                return ip
    raise NetworkXMLError("/update", "the network has no <ip> to hold DHCP entries")


def _ensure_dhcp(ip: Ip) -> Dhcp:
    if ip.dhcp is None:
        ip.dhcp = Dhcp()
    return ip.dhcp


def _subnet(ip: Ip) -> Subnet:
    """The subnet of the <ip> whose DHCP is updated (it must have an address)."""
    subnet = subnet_of(ip, "/update")
    if subnet is None:
        raise NetworkXMLError("/update/@parent_index", "that <ip> has no address to hold DHCP")
    return subnet


def _single_dhcp(net: Network, target: Ip) -> None:
    version = _subnet(target).version
    for ip in net.ips:
        if ip is target or ip.address is None:
            continue
        if (
            Address.parse(ip.address).version == version
            and ip.dhcp is not None
            and (ip.dhcp.ranges or ip.dhcp.hosts)
        ):
            raise NetworkXMLError(
                "/update", f"DHCP is supported on one IPv{version} address per network only"
            )


_same_ip = same


def _same_mac(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


def _dhcp_host(net: Network, command: str, elem: etree._Element, parent_index: int) -> None:
    _expect(elem, "host")
    ip = _dhcp_ip(net, parent_index)
    subnet = _subnet(ip)
    host = DhcpHost.from_element(elem, "/update/host")
    partial = command == "delete"
    check_dhcp_host(host, subnet, "/update/host", partial=partial)
    hosts = _ensure_dhcp(ip).hosts
    if command == "modify":
        for i, old in enumerate(hosts):
            if (
                _same_mac(host.mac, old.mac)
                or _same_ip(host.ip, old.ip)
                or (host.name is not None and host.name == old.name)
            ):
                hosts[i] = host
                return
        raise NetworkXMLError(
            "/update/host",
            f"no DHCP host entry with mac='{host.mac}' name='{host.name}' ip='{host.ip}' to modify",
        )
    if command in ADD:
        _single_dhcp(net, ip)
        for old in hosts:
            if (
                _same_mac(host.mac, old.mac)
                or (host.name is not None and host.name == old.name)
                or _same_ip(host.ip, old.ip)
            ):
                raise NetworkXMLError(
                    "/update/host", "a DHCP host entry with this mac, name or ip exists already"
                )
        _insert(hosts, host, command)
        return
    for i, old in enumerate(hosts):  # delete: every attribute given must match
        if (
            (host.mac is None or old.mac is None or _same_mac(host.mac, old.mac))
            and (host.name is None or host.name == old.name)
            and (host.ip is None or _same_ip(host.ip, old.ip))
        ):
            del hosts[i]
            return
    raise NetworkXMLError("/update/host", "no matching DHCP host entry to delete")


def _dhcp_range(net: Network, command: str, elem: etree._Element, parent_index: int) -> None:
    _expect(elem, "range")
    ip = _dhcp_ip(net, parent_index)
    _no_modify(command, "DHCP ranges")
    rng = DhcpRange.from_element(elem, "/update/range")
    check_dhcp_range(rng, _subnet(ip), "/update/range")
    ranges = _ensure_dhcp(ip).ranges
    found = next(
        (
            i
            for i, old in enumerate(ranges)
            if _same_ip(rng.start, old.start) and _same_ip(rng.end, old.end)
        ),
        None,
    )
    if command in ADD:
        _single_dhcp(net, ip)
        if found is not None:
            raise NetworkXMLError(
                "/update/range", f"the range {rng.start} - {rng.end} exists already"
            )
        _insert(ranges, rng, command)
    elif found is None:
        raise NetworkXMLError("/update/range", f"no range {rng.start} - {rng.end} to delete")
    else:
        del ranges[found]


# --- forward interfaces and portgroups ------------------------------------------------------
def _forward_interface(net: Network, command: str, elem: etree._Element, _parent: int) -> None:
    _expect(elem, "interface")
    _no_modify(command, "forward interfaces")
    iface = ForwardInterface.from_element(elem, "/update/interface")
    if not iface.dev:
        raise NetworkXMLError("/update/interface/@dev", "missing; name a host interface")
    if net.forward is None:
        raise NetworkXMLError("/update", "the network has no <forward> to hold interfaces")
    pool = net.forward.interfaces
    found = next((i for i, old in enumerate(pool) if old.dev == iface.dev), None)
    if command in ADD:
        if found is not None:
            raise NetworkXMLError("/update/interface", f"'{iface.dev}' is in the pool already")
        _insert(pool, ForwardInterface(dev=iface.dev), command)
    elif found is None:
        raise NetworkXMLError("/update/interface", f"'{iface.dev}' is not in the pool")
    elif pool[found].connections:
        raise NetworkXMLError(
            "/update/interface", f"'{iface.dev}' is used by {pool[found].connections} domains"
        )
    else:
        del pool[found]


def _portgroup(net: Network, command: str, elem: etree._Element, _parent: int) -> None:
    _expect(elem, "portgroup")
    pg = Portgroup.from_element(elem, "/update/portgroup")
    if not pg.name:
        raise NetworkXMLError("/update/portgroup/@name", "missing")
    found = next((i for i, old in enumerate(net.portgroups) if old.name == pg.name), None)
    default = next((i for i, old in enumerate(net.portgroups) if old.default == "yes"), None)
    if found is None and command in ("modify", "delete"):
        raise NetworkXMLError("/update/portgroup", f"no portgroup named '{pg.name}'")
    if found is not None and command in ADD:
        raise NetworkXMLError("/update/portgroup", f"a portgroup named '{pg.name}' exists")
    if command != "delete" and pg.default == "yes" and default not in (None, found):
        raise NetworkXMLError(
            "/update/portgroup/@default",
            "another portgroup is the default already; only one may be",
        )
    if command in ADD:
        _insert(net.portgroups, pg, command)
    elif found is not None and command == "modify":
        net.portgroups[found] = pg
    elif found is not None:
        del net.portgroups[found]


# --- DNS -------------------------------------------------------------------------------------
def _dns(net: Network) -> Dns:
    if net.dns is None:
        net.dns = Dns()
    return net.dns


def _dns_host(net: Network, command: str, elem: etree._Element, _parent: int) -> None:
    _no_modify(command, "DNS host records")
    _expect(elem, "host")
    host = DnsHost.from_element(elem, "/update/host")
    add = command in ADD
    if add and (host.ip is None or not host.hostnames):
        raise NetworkXMLError("/update/host", "a DNS host needs an ip and a <hostname>")
    if not add and host.ip is None and not host.hostnames:
        raise NetworkXMLError("/update/host", "name the DNS host by ip or <hostname>")
    hosts = _dns(net).hosts
    found = [
        i
        for i, old in enumerate(hosts)
        if _same_ip(host.ip, old.ip) or (not add and set(host.hostnames) & set(old.hostnames))
    ]
    if add:
        if found:
            raise NetworkXMLError("/update/host", f"a DNS host record for {host.ip} exists")
        _insert(hosts, host, command)
    elif not found:
        raise NetworkXMLError("/update/host", "no matching DNS host record to delete")
    elif len(found) > 1:
        raise NetworkXMLError("/update/host", "several DNS host records match; be precise")
    else:
        del hosts[found[0]]


def _dns_txt(net: Network, command: str, elem: etree._Element, _parent: int) -> None:
    _no_modify(command, "DNS TXT records")
    _expect(elem, "txt")
    txt = DnsTxt.from_element(elem, "/update/txt")
    add = command in ADD
    if not txt.name or (add and txt.value is None):
        raise NetworkXMLError("/update/txt", "a DNS TXT record needs a name (and, to add, a value)")
    txts = _dns(net).txts
    found = next((i for i, old in enumerate(txts) if old.name == txt.name), None)
    if add:
        if found is not None:
            raise NetworkXMLError("/update/txt", f"a DNS TXT record named '{txt.name}' exists")
        _insert(txts, txt, command)
    elif found is None:
        raise NetworkXMLError("/update/txt", f"no DNS TXT record named '{txt.name}'")
    else:
        del txts[found]


def _dns_srv(net: Network, command: str, elem: etree._Element, _parent: int) -> None:
    _no_modify(command, "DNS SRV records")
    _expect(elem, "srv")
    srv = DnsSrv.from_element(elem, "/update/srv")
    add = command in ADD
    if add and not (srv.service and srv.protocol):
        raise NetworkXMLError("/update/srv", "a DNS SRV record needs a service and a protocol")
    srvs = _dns(net).srvs
    keys = ("domain", "service", "protocol", "target")
    found = [
        i
        for i, old in enumerate(srvs)
        if all(getattr(srv, k) is None or getattr(srv, k) == getattr(old, k) for k in keys)
    ]
    if add:
        if found:
            raise NetworkXMLError("/update/srv", "a DNS SRV record with these fields exists")
        _insert(srvs, srv, command)
    elif not found:
        raise NetworkXMLError("/update/srv", "no matching DNS SRV record to delete")
    elif len(found) > 1:
        raise NetworkXMLError("/update/srv", "several DNS SRV records match; be precise")
    else:
        del srvs[found[0]]


HANDLERS: dict[str, Callable[[Network, str, etree._Element, int], None]] = {
    "ip-dhcp-host": _dhcp_host,
    "ip-dhcp-range": _dhcp_range,
    "forward-interface": _forward_interface,
    "portgroup": _portgroup,
    "dns-host": _dns_host,
    "dns-txt": _dns_txt,
    "dns-srv": _dns_srv,
}
