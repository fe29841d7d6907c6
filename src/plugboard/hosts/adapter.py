"""The libvirt adapter: every domain, network and interface call plugboard makes.

`HostConnection.call(fn)` hands `fn` a `Libvirt` for the host's kept connection. Each method
is one libvirt call; its error becomes a plugboard error through the one table
(plugboard.hosts.errors), so the engine deals in plugboard's errors only, and a lost
connection is HOST_UNREACHABLE wherever it happens.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import libvirt
import libvirt_qemu
from lxml import etree

from plugboard.errors import NetworkNotFound, PlugboardError, VmNotFound
from plugboard.hosts.errors import is_refusal, translate
from plugboard.netxml.update import COMMANDS, SECTIONS

log = logging.getLogger(__name__)

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
INACTIVE_XML = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "unknown",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting-down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut-off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}

# virNetworkUpdate's codes for the names of plugboard.netxml.update.
UPDATE_COMMANDS: dict[str, int] = {
    name: getattr(libvirt, "VIR_NETWORK_UPDATE_COMMAND_" + name.upper().replace("-", "_"))
    for name in COMMANDS
    if name != "add"
} | {"add": libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST}
UPDATE_SECTIONS: dict[str, int] = {
    name: getattr(libvirt, "VIR_NETWORK_SECTION_" + name.upper().replace("-", "_"))
    for name in SECTIONS
}


def _where(live: bool, config: bool) -> int:
    return (LIVE if live else 0) | (CONFIG if config else 0)


class NetworkFlags(NamedTuple):
    active: bool
    persistent: bool
    autostart: bool


class _Calls:
    """What the adapter's objects share: the connection and its host's name, and the one
    place where a libvirt error is translated."""

    def __init__(self, conn: libvirt.virConnect, host: str) -> None:
        self._conn = conn
        self.host = host

    @contextlib.contextmanager
    def _calling(self) -> Iterator[None]:
        try:
            yield
        except libvirt.libvirtError as err:
            raise translate(err, self._conn, self.host) from err


class LibvirtDomain(_Calls):
    """One libvirt domain (a VM)."""

    def __init__(self, dom: libvirt.virDomain, conn: libvirt.virConnect, host: str) -> None:
        super().__init__(conn, host)
        self._dom = dom
        self.name: str = dom.name()

    @property
    def uuid(self) -> str:
        with self._calling():
            return str(self._dom.UUIDString())

    def is_active(self) -> bool:
        with self._calling():
            return bool(self._dom.isActive())

    def network_xml(self, name: str) -> str:
        """The running definition of a network its cards may be on (the same connection)."""
        with self._calling():
            return str(self._conn.networkLookupByName(name).XMLDesc(0))

    def run_id(self) -> int:
        """libvirt's id of the running VM: a new one at each start (-1: not running)."""
        with self._calling():
            return int(self._dom.ID())

    def is_persistent(self) -> bool:
        with self._calling():
            return bool(self._dom.isPersistent())

    def autostart(self) -> bool:
        with self._calling():
            return bool(self._dom.autostart())

    def info(self) -> tuple[str, int, int]:
        """(state, maximum memory in KiB, vCPUs)."""
        with self._calling():
            state, max_mem_kib, _mem, vcpus, _cpu = self._dom.info()
        return STATES.get(state, "unknown"), max_mem_kib, vcpus

    def xml(self, inactive: bool = False) -> str:
        """The running definition, or (`inactive`) the persistent one with its secrets."""
        with self._calling():
            return str(self._dom.XMLDesc(INACTIVE_XML if inactive else 0))

    def tree(self, inactive: bool = False) -> etree._Element:
        return etree.fromstring(self.xml(inactive).encode())

    def update_device(self, xml: str, *, live: bool, config: bool) -> None:
        with self._calling():
            self._dom.updateDeviceFlags(xml, _where(live, config))

    def attach_device(self, xml: str, *, live: bool, config: bool) -> None:
        with self._calling():
            self._dom.attachDeviceFlags(xml, _where(live, config))

    def detach_device(self, xml: str, *, live: bool, config: bool) -> None:
        with self._calling():
            self._dom.detachDeviceFlags(xml, _where(live, config))

    def detach_from_definition(self, xml: str) -> None:
        """Take a card out of the persistent definition; one that is not there is fine."""
        try:
            self._dom.detachDeviceFlags(xml, CONFIG)
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_DEVICE_MISSING:
                raise translate(err, self._conn, self.host) from err

    def set_metadata(
        self, xml: str | None, key: str, uri: str, *, config: bool, live: bool = True
    ) -> None:
        """Replace (or, with None, remove) the metadata element of namespace `uri`."""
        with self._calling():
            self._dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, uri, _where(live, config)
            )

    def create(self) -> None:
        with self._calling():
            self._dom.create()

    def shutdown(self) -> None:
        with self._calling():
            self._dom.shutdown()

    def destroy(self) -> None:
        with self._calling():
            self._dom.destroy()

    def undefine(self) -> None:
        with self._calling():
            self._dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)

    def monitor(self, command: str) -> str:
        """A QMP command sent through libvirt (libvirt marks the domain tainted for it)."""
        with self._calling():
            return str(libvirt_qemu.qemuMonitorCommand(self._dom, command, 0))


class LibvirtNetwork(_Calls):
    """One libvirt virtual network."""

    def __init__(self, net: libvirt.virNetwork, conn: libvirt.virConnect, host: str) -> None:
        super().__init__(conn, host)
        self._net = net
        self.name: str = net.name()

    def xml(self, inactive: bool = False) -> str:
        """The network's XML as it runs, or (`inactive`) as it starts next. libvirt's test
        driver keeps one definition and refuses the flag (virCheckFlags): its one is both."""
        flags = libvirt.VIR_NETWORK_XML_INACTIVE if inactive else 0
        with self._calling():
            try:
                return str(self._net.XMLDesc(flags))
            except libvirt.libvirtError as err:
                if not flags or err.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
                    raise
                return str(self._net.XMLDesc(0))

    def is_active(self) -> bool:
        with self._calling():
            return bool(self._net.isActive())

    def is_persistent(self) -> bool:
        with self._calling():
            return bool(self._net.isPersistent())

    def autostart(self) -> bool:
        with self._calling():
            return bool(self._net.autostart())

    def set_autostart(self, autostart: bool) -> None:
        with self._calling():
            self._net.setAutostart(int(autostart))

    def create(self) -> None:
        with self._calling():
            self._net.create()

    def destroy(self) -> None:
        with self._calling():
            self._net.destroy()

    def undefine(self) -> None:
        with self._calling():
            self._net.undefine()

    def update(self, command: str, section: str, parent_index: int, xml: str) -> None:
        """One virNetworkUpdate, on the running network and its definition (as it has)."""
        with self._calling():
            flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG if self._net.isPersistent() else 0
            if self._net.isActive():
                flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
            self._net.update(
                UPDATE_COMMANDS[command], UPDATE_SECTIONS[section], parent_index, xml, flags
            )

    def dhcp_leases(self) -> list[dict[str, Any]]:
        with self._calling():
            return list(self._net.DHCPLeases())


class Libvirt(_Calls):
    """A host's libvirt, for one call on the host's threads."""

    @property
    def uri(self) -> str:
        with self._calling():
            return str(self._conn.getURI())

    def domain(self, name: str) -> LibvirtDomain:
        """The VM named `name`; VM_NOT_FOUND says how to list them."""
        try:
            with self._calling():
                return LibvirtDomain(self._conn.lookupByName(name), self._conn, self.host)
        except VmNotFound as err:
            raise err.reworded(
                f"no VM '{name}' on this host; `plugboard vm-list` shows them"
            ) from None

    def has_domain(self, name: str) -> bool:
        try:
            self.domain(name)
        except VmNotFound:
            return False
        return True

    def domains(self) -> list[LibvirtDomain]:
        with self._calling():
            return [LibvirtDomain(d, self._conn, self.host) for d in self._conn.listAllDomains()]

    def definitions(self) -> Iterator[tuple[LibvirtDomain, etree._Element]]:
        """Each domain with each of its definitions: the running one and, for a running VM that
        has one, the persistent one (a stopped VM has only that; it is read once)."""
        for dom in self.domains():
            both = dom.is_active() and dom.is_persistent()
            for inactive in (False, True) if both else (False,):
                yield dom, dom.tree(inactive)

    def define_domain(self, xml: str) -> LibvirtDomain:
        with self._calling():
            return LibvirtDomain(self._conn.defineXML(xml), self._conn, self.host)

    def network(self, name: str) -> LibvirtNetwork:
        """The network named `name`; NETWORK_NOT_FOUND says how to list them."""
        try:
            with self._calling():
                return LibvirtNetwork(self._conn.networkLookupByName(name), self._conn, self.host)
        except NetworkNotFound as err:
            raise err.reworded(
                f"no network '{name}' on this host; `plugboard net-list` shows them"
            ) from None

    def has_network(self, name: str) -> bool:
        try:
            self.network(name)
        except NetworkNotFound:
            return False
        return True

    def networks(self) -> list[LibvirtNetwork]:
        with self._calling():
            return [LibvirtNetwork(n, self._conn, self.host) for n in self._conn.listAllNetworks()]

    def network_flags(self) -> dict[str, NetworkFlags]:
        """Every network's (active, persistent, autostart), in three calls whatever their
        number, where asking each network costs three round trips apiece."""
        with self._calling():
            names = {
                flag: {n.name() for n in self._conn.listAllNetworks(flag)}
                for flag in (
                    libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE,
                    libvirt.VIR_CONNECT_LIST_NETWORKS_PERSISTENT,
                    libvirt.VIR_CONNECT_LIST_NETWORKS_AUTOSTART,
                )
            }
        active, persistent, autostart = names.values()
        return {
            name: NetworkFlags(name in active, name in persistent, name in autostart)
            for name in active | persistent
        }

    def define_network(self, xml: str) -> LibvirtNetwork:
        with self._calling():
            return LibvirtNetwork(self._conn.networkDefineXML(xml), self._conn, self.host)

    def capabilities(self) -> str:
        with self._calling():
            return str(self._conn.getCapabilities())

    def interface_definitions(self) -> list[str]:
        """The XML of each host interface libvirt's interface driver knows (none when the host
        has no interface driver)."""
        try:
            with self._calling():
                interfaces = self._conn.listAllInterfaces(0)
        except PlugboardError as err:
            if not is_refusal(err):
                raise
            # test:///, or a libvirt built without an interface driver: node devices remain.
            log.debug("host %s has no interface driver: %s", self.host, err.detail)
            return []
        with self._calling():
            return [str(i.XMLDesc(0)) for i in interfaces]

    def net_device_definitions(self) -> list[str]:
        """The XML of each node device of the net capability."""
        with self._calling():
            devices = self._conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET)
            return [str(d.XMLDesc(0)) for d in devices]
