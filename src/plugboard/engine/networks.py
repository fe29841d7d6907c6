"""Virtual networks on hosts. libvirt holds them: every call reads libvirt, validates with
plugboard.netxml before libvirt is asked to change anything, and re-reads afterwards."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import libvirt
from lxml import etree

from plugboard.errors import (
    Conflict,
    HostError,
    InvalidInput,
    NetworkExists,
    NetworkInUse,
    NetworkNotFound,
)
from plugboard.hosts import HostConnection
from plugboard.hosts.domains import definitions
from plugboard.netxml import (
    Network,
    NetworkXMLError,
    apply_update,
    format_network,
    network_from_json,
    network_to_json,
    parse_network,
)
from plugboard.netxml.addresses import Address
from plugboard.netxml.validate import subnet_of
from plugboard.vnic.xml import NS as VNICS_NS
from plugboard.vnic.xml import USER_ALIAS

COMMANDS = {
    "modify": libvirt.VIR_NETWORK_UPDATE_COMMAND_MODIFY,
    "delete": libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE,
    "add-last": libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
    "add": libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
    "add-first": libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST,
}
SECTIONS = {
    name: getattr(libvirt, "VIR_NETWORK_SECTION_" + name.upper().replace("-", "_"))
    for name in (
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
    )
}
# Unplugged vNICs kept in a domain's metadata still name their network.
UNPLUGGED_ON = etree.XPath(
    "./metadata/p:vnics/p:vnic/p:interface[@type='network']/p:source[@network=$n]",
    namespaces={"p": VNICS_NS},
)


@dataclass
class NetworkState:
    """A network as libvirt has it now: its definition and its state."""

    definition: Network
    xml: str
    active: bool
    persistent: bool
    autostart: bool

    @property
    def name(self) -> str:
        return self.definition.name

    def summary(self) -> dict[str, Any]:
        net = self.definition
        fwd = net.forward
        pool = [
            {"dev": i.dev, "connections": i.connections or 0}
            for i in (fwd.interfaces if fwd else [])
        ]
        return {
            "name": net.name,
            "uuid": net.uuid,
            "active": self.active,
            "persistent": self.persistent,
            "autostart": self.autostart,
            "bridge": net.bridge.name if net.bridge else None,
            "forward_mode": net.forward_mode or "isolated",
            "connections": net.connections or 0,
            "subnets": [str(s) for s in _subnets(net)],
            "pool": pool,
        }


def _subnets(net: Network) -> list:
    found = []
    for i, ip in enumerate(net.ips, 1):
        subnet = subnet_of(ip, f"/network/ip[{i}]")
        if subnet is not None:
            found.append(f"{ip.address}/{subnet.prefixlen}")
    return found


@dataclass
class Lease:
    mac: str
    ip: str
    prefix: int
    hostname: str | None
    expiry: dt.datetime | None
    client_id: str | None
    vm: str | None = None
    vnic: str | None = None


@dataclass
class Change:
    """What a change did: the network after it, and when it takes effect."""

    state: NetworkState
    applied: str = "now"  # or "next-start"
    notes: list[str] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------
def _lookup(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            raise NetworkNotFound(
                f"no network '{name}' on this host; `plugboard net-list` shows them"
            ) from None
        raise


def _state(net: libvirt.virNetwork) -> NetworkState:
    xml = net.XMLDesc(0)
    return NetworkState(
        definition=parse_network(xml, live=True),
        xml=xml,
        active=bool(net.isActive()),
        persistent=bool(net.isPersistent()),
        autostart=bool(net.autostart()),
    )


def list_networks(host: HostConnection) -> list[NetworkState]:
    def read(conn):
        return sorted((_state(n) for n in conn.listAllNetworks()), key=lambda s: s.name)

    return host.call(read)


def get_network(host: HostConnection, name: str) -> NetworkState:
    return host.call(lambda conn: _state(_lookup(conn, name)))


# --- input -----------------------------------------------------------------------------------
def definition_from(body: bytes | dict, xml: bool) -> Network:
    """The network a request brings, as XML or as the JSON form; 422 naming the element."""
    try:
        if xml:
            return parse_network(body)
        if not isinstance(body, dict):
            raise InvalidInput(
                "the body must be a JSON object (the network's JSON form) or "
                "libvirt XML with Content-Type: application/xml"
            )
        return network_from_json(body)
    except NetworkXMLError as err:
        raise InvalidInput(str(err), field=err.path) from None


def _libvirt_error(err: libvirt.libvirtError, what: str) -> Exception:
    """libvirt's refusal as the error users should see: a conflict is theirs to resolve."""
    message = f"{what}: {err.get_error_message()}"
    code = err.get_error_code()
    if code in (libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_NETWORK_EXIST):
        return Conflict(message)
    if code in (
        libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
        libvirt.VIR_ERR_XML_ERROR,
        libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
        libvirt.VIR_ERR_INVALID_ARG,
    ):
        return InvalidInput(message)
    return HostError(message, libvirt_code=code)


# --- changes ---------------------------------------------------------------------------------
def define_network(
    host: HostConnection, definition: Network, *, start: bool = False, autostart: bool = False
) -> Change:
    xml = format_network(definition)

    def define(conn):
        try:
            conn.networkLookupByName(definition.name)
        except libvirt.libvirtError:
            pass
        else:
            raise NetworkExists(
                f"a network '{definition.name}' exists on this host; use PUT to change it"
            )
        try:
            net = conn.networkDefineXML(xml)
        except libvirt.libvirtError as err:
            raise _libvirt_error(err, "libvirt refused the definition") from None
        try:
            if autostart:
                net.setAutostart(1)
            if start:
                net.create()
        except libvirt.libvirtError as err:
            net.undefine()  # nothing half-made stays behind
            raise _libvirt_error(err, f"network '{definition.name}' could not start") from None
        return Change(_state(net))

    return host.call(define)


def redefine_network(
    host: HostConnection, name: str, definition: Network, *, restart: bool = False
) -> Change:
    if definition.name != name:
        raise InvalidInput(
            f"the definition is named '{definition.name}', not '{name}'; a "
            "network cannot be renamed",
            field="/network/name",
        )

    def redefine(conn):
        net = _lookup(conn, name)
        old = parse_network(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
        if definition.uuid is None:
            definition.uuid = old.uuid  # the same network, not a new one
        try:
            net = conn.networkDefineXML(format_network(definition))
        except libvirt.libvirtError as err:
            raise _libvirt_error(err, "libvirt refused the definition") from None
        if not net.isActive():
            return Change(_state(net))
        if not restart:
            return Change(
                _state(net),
                applied="next-start",
                notes=[
                    "the network is running; the new definition takes effect "
                    "when it restarts (?restart=true restarts it now)"
                ],
            )
        net.destroy()
        try:
            net.create()
        except libvirt.libvirtError as err:
            raise _libvirt_error(err, f"network '{name}' did not start again") from None
        return Change(_state(net))

    return host.call(redefine)


def start_network(host: HostConnection, name: str) -> Change:
    return _act(host, name, lambda net: net.create(), "could not start")


def stop_network(host: HostConnection, name: str) -> Change:
    return _act(host, name, lambda net: net.destroy(), "could not stop")


def set_autostart(host: HostConnection, name: str, autostart: bool) -> Change:
    return _act(
        host, name, lambda net: net.setAutostart(int(autostart)), "could not change autostart"
    )


def _act(host: HostConnection, name: str, action, failure: str) -> Change:
    def run(conn):
        net = _lookup(conn, name)
        try:
            action(net)
        except libvirt.libvirtError as err:
            raise _libvirt_error(err, f"network '{name}' {failure}") from None
        return Change(_state(net))

    return host.call(run)


def users_of(conn: libvirt.virConnect, name: str) -> list[str]:
    """VMs with a vNIC on network `name`: live, in their persistent definition, or unplugged
    (in plugboard's metadata)."""
    users = set()
    for dom, root in definitions(conn):
        if root.xpath("./devices/interface[@type='network']/source[@network=$n]", n=name) or (
            UNPLUGGED_ON(root, n=name)
        ):
            users.add(dom.name())
    return sorted(users)


def delete_network(host: HostConnection, name: str, *, force: bool = False) -> None:
    def delete(conn):
        net = _lookup(conn, name)
        users = users_of(conn, name)
        if users and not force:
            raise NetworkInUse(
                f"network '{name}' is used by {', '.join(users)}; remove their "
                "vNICs or delete with force",
                vms=users,
            )
        try:
            if net.isActive():
                net.destroy()
            if net.isPersistent():
                net.undefine()
        except libvirt.libvirtError as err:
            raise _libvirt_error(err, f"network '{name}' could not be deleted") from None

    host.call(delete)


def update_network(
    host: HostConnection,
    name: str,
    command: str,
    section: str,
    xml: str,
    *,
    parent_index: int = -1,
) -> Change:
    """One virNetworkUpdate, live and persistent; checked with netxml first."""
    if command not in COMMANDS or section not in SECTIONS:
        raise InvalidInput(
            f"command must be one of {', '.join(COMMANDS)} and section one of {', '.join(SECTIONS)}"
        )

    def update(conn):
        net = _lookup(conn, name)
        current = parse_network(net.XMLDesc(0), live=True)
        try:
            apply_update(current, command, section, xml, parent_index)
        except NetworkXMLError as err:
            raise InvalidInput(str(err), field=err.path) from None
        flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG if net.isPersistent() else 0
        if net.isActive():
            flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
        try:
            net.update(COMMANDS[command], SECTIONS[section], parent_index, xml, flags)
        except libvirt.libvirtError as err:
            raise _libvirt_error(err, "libvirt refused the update") from None
        return Change(_state(net))

    return host.call(update)


# --- leases ----------------------------------------------------------------------------------
def leases(host: HostConnection, name: str) -> list[Lease]:
    def read(conn):
        net = _lookup(conn, name)
        owners = _vnics_by_mac(conn)
        found = []
        for lease in net.DHCPLeases():
            mac = (lease.get("mac") or "").lower()
            vm, vnic = owners.get(mac, (None, None))
            expiry = lease.get("expirytime")
            found.append(
                Lease(
                    mac=mac,
                    ip=lease["ipaddr"],
                    prefix=lease["prefix"],
                    hostname=lease.get("hostname") or None,
                    expiry=dt.datetime.fromtimestamp(expiry, dt.UTC) if expiry else None,
                    client_id=lease.get("clientid") or None,
                    vm=vm,
                    vnic=vnic,
                )
            )
        return sorted(found, key=lambda lease: Address.parse(lease.ip))

    return host.call(read)


def _vnics_by_mac(conn: libvirt.virConnect) -> dict[str, tuple[str, str | None]]:
    owners = {}
    for dom in conn.listAllDomains():
        root = etree.fromstring(dom.XMLDesc(0).encode())
        for iface in root.iterfind("./devices/interface"):
            mac = iface.find("mac")
            if mac is None:
                continue
            alias = iface.find("alias")
            vnic = alias.get("name") if alias is not None else None
            if vnic is not None and vnic.startswith(USER_ALIAS):
                vnic = vnic[len(USER_ALIAS) :]
            owners[mac.get("address").lower()] = (dom.name(), vnic)
    return owners


def definition_json(state: NetworkState) -> dict[str, Any]:
    return network_to_json(state.definition)
