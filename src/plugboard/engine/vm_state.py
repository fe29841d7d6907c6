"""A VM's vNICs as libvirt has them now: read from the domain's XML (live when it runs, else
its definition) and plugboard's record in its metadata. Nothing is cached: every change
starts from this read, under the VM's lock."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from lxml import etree

from plugboard.errors import PlugboardError, VnicNotFound
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.errors import is_refusal
from plugboard.netxml import parse_network
from plugboard.netxml.interface import Interface
from plugboard.vnic import Vnic
from plugboard.vnic.metadata import VnicRecord, read_records
from plugboard.vnic.model import Attachment
from plugboard.vnic.xml import (
    interface_of,
    limits_from,
    pci_address,
    tags_from,
    vnic_from,
    vnic_name,
)

log = logging.getLogger(__name__)


@dataclass
class VnicState:
    """One vNIC as libvirt has it now."""

    vnic: Vnic
    iface: Interface  # the device (live when the VM runs), or the stored card
    target_dev: str | None = None
    pci_address: str | None = None
    ips: list[str] = field(default_factory=list)
    # What the store adds (plugboard.engine.vnic_notes): an interrupted change not recovered
    # yet, an uncertain state, a change made outside plugboard, a tap off its network.
    pending_operation: str | None = None
    needs_attention: str | None = None
    drift: str | None = None
    connected: bool | None = None
    disconnected: str | None = None
    vm_running: bool = False

    @property
    def active(self) -> bool:
        """Plugged and linked on a running VM."""
        return self.vm_running and self.vnic.active

    @property
    def etag(self) -> str:
        return self.vnic.etag


@dataclass
class VmState:
    dom: LibvirtDomain
    running: bool
    persistent: bool
    root: etree._Element  # live XML when running, else the persistent XML (with secrets)
    records: dict[str, VnicRecord]
    vnics: dict[str, VnicState]


def read_vm(
    dom: LibvirtDomain,
    running: bool | None = None,
    persistent: bool | None = None,
    *,
    definition: bool = False,
) -> VmState:
    """The VM's vNICs as libvirt has them (`running`, `persistent`: already known). With
    `definition`, a running VM's definition is read too: a card it holds that the running VM
    has lost (a crash between an unplug and its undo, say) is shown, unplugged, for
    attention."""
    persistent = dom.is_persistent() if persistent is None else persistent
    root = dom.tree()
    if running is None:
        running = root.get("id") is not None  # only a running domain has an id
    if not running:  # with its secrets: a stopped VM's changes redefine it whole
        root = dom.tree(inactive=True)
    records = read_records(root)
    vnics: dict[str, VnicState] = {}
    for element in root.iterfind("./devices/interface"):
        state = _plugged(interface_of(element), records, running, dom)
        vnics[state.vnic.name] = state
    for name, record in records.items():
        if not record.plugged and record.interface is not None and name not in vnics:
            vnics[name] = VnicState(
                vnic=vnic_from(record.interface, record.linked, False, record.profile),
                iface=record.interface,
                pci_address=pci_address(record.interface),
            )
    for vnic in vnics.values():
        vnic.vm_running = running
    if definition and running and persistent:
        _lost(dom, vnics)
    return VmState(dom, running, persistent, root, records, vnics)


LOST = "in the VM's definition but not in the running VM: plug it in (plugged: true)"


def _lost(dom: LibvirtDomain, vnics: dict[str, VnicState]) -> None:
    for element in dom.tree(inactive=True).iterfind("./devices/interface"):
        iface = interface_of(element)
        name = vnic_name(iface)
        if name not in vnics:
            vnic = vnic_from(iface, None, plugged=False)
            vnics[name] = VnicState(
                vnic, iface, pci_address=pci_address(iface), needs_attention=LOST
            )


def _plugged(
    iface: Interface, records: dict[str, VnicRecord], running: bool, dom: LibvirtDomain
) -> VnicState:
    record = records.get(vnic_name(iface))
    linked, profile = (record.linked, record.profile) if record is not None else (None, None)
    vnic = vnic_from(iface, linked, plugged=True, profile=profile)
    if running and iface.type != "network" and vnic.source and vnic.source.type == "network":
        vnic = _without_inherited(dom, vnic)
    target_dev = iface.target.dev if iface.target is not None and running else None
    if target_dev and vnic.source is not None and vnic.source.type == "network":
        attachment = _running_attachment(iface, target_dev)
        vnic = vnic.with_(source=replace(vnic.source, attachment=attachment))
    return VnicState(vnic, iface, target_dev, pci_address(iface))


def _without_inherited(dom: LibvirtDomain, vnic: Vnic) -> Vnic:
    """A running card on a network of forward mode bridge or a macvtap pool shows libvirt's
    actual device in the live XML: its VLANs and QoS are those the network (or the card's
    port group) gave it, unless the card has its own. What the network gives is not the
    vNIC's own setting: it follows the network (and a live update must not pin it)."""
    assert vnic.source is not None
    try:
        network = parse_network(dom.network_xml(vnic.source.network or ""))
    except (PlugboardError, ValueError):
        return vnic  # gone meanwhile, or not readable: shown as libvirt has it
    group = next(
        (
            g
            for g in network.portgroups
            if g.name == vnic.source.portgroup or (not vnic.source.portgroup and g.default)
        ),
        None,
    )
    given_vlan = (group.vlan if group is not None and group.vlan else None) or network.vlan
    given_qos = (group.bandwidth if group is not None else None) or network.bandwidth
    if vnic.vlan is not None and vnic.vlan == tags_from(given_vlan):
        vnic = vnic.with_(vlan=None)
    if vnic.bandwidth and vnic.bandwidth == limits_from(given_qos):
        vnic = vnic.with_(bandwidth=())
    return vnic


def _running_attachment(iface: Interface, target_dev: str) -> Attachment:
    """What a running card on a libvirt network got from it: libvirt names taps vnetN and
    macvtaps macvtapN, and an Open vSwitch port has its virtualport (no need to ask the
    network)."""
    if target_dev.startswith(("macvtap", "macvlan")):
        return "macvtap"
    port = iface.virtualport
    return "ovs" if port is not None and port.type == "openvswitch" else "tap"


def find_vnic(state: VmState, name: str) -> VnicState:
    """The vNIC `name`; on a running VM, also one its definition holds and it has lost."""
    if name not in state.vnics and state.running and state.persistent:
        _lost(state.dom, state.vnics)
    try:
        return state.vnics[name]
    except KeyError:
        vm = state.dom.name
        raise VnicNotFound(
            f"VM '{vm}' has no vNIC '{name}'; `plugboard nic-list {vm}` shows them"
        ) from None


def add_ips(lv: Libvirt, state: VmState) -> None:
    """Fill in each plugged vNIC's addresses from its network's DHCP leases."""
    if not state.running:
        return
    leases: dict[str, list[dict]] = {}
    for vnic in state.vnics.values():
        fill_ips(lv, vnic, leases)


def fill_ips(lv: Libvirt, vnic: VnicState, leases: dict[str, list[dict]] | None = None) -> None:
    """A running VM's plugged vNIC's addresses from its network's DHCP leases (`leases`: the
    networks' leases read so far)."""
    src = vnic.vnic.source
    if not (vnic.vnic.plugged and src and src.type == "network"):
        return
    leases = {} if leases is None else leases
    network = src.network or ""
    if network not in leases:
        leases[network] = _leases(lv, network)
    vnic.ips = [
        f"{lease['ipaddr']}/{lease['prefix']}"
        for lease in leases[network]
        if (lease.get("mac") or "").lower() == vnic.vnic.mac
    ]


def _leases(lv: Libvirt, network: str) -> list[dict]:
    try:
        return lv.network(network).dhcp_leases()
    except PlugboardError as err:
        if not is_refusal(err):
            raise
        # The network is gone or has no DHCP: its vNICs have no addresses to show.
        log.debug("no leases of network %s on host %s: %s", network, lv.host, err.detail)
        return []
