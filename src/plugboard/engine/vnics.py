"""vNICs of VMs: read, add, change, remove — desired -> plan -> apply -> verify.

libvirt holds every vNIC: a plugged one is a device of the domain, an unplugged one (and the
link wish of one with no network) is in the domain's metadata (plugboard.vnic.xml). Changes to
one VM are serialised by a per-VM lock. Apply keeps the card's XML as it was before each step
and, when a step fails, undoes the steps done so far in reverse order, so a failed change
leaves the live XML, the persistent XML and the metadata as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import libvirt
import libvirt_qemu
from lxml import etree

from plugboard import hostnet
from plugboard.engine import macpool
from plugboard.errors import (
    CannotRemoveActiveDevice,
    HotunplugTimeout,
    InvalidInput,
    NetworkNotFound,
    PreconditionFailed,
    UpdateVnicFailed,
    VmNotFound,
    VnicExists,
    VnicNotFound,
)
from plugboard.hosts import HostConnection, HostRegistry
from plugboard.hosts.connection import error_message
from plugboard.vnic import MODELS, Plan, PlanError, Source, Vlan, Vnic, plan
from plugboard.vnic.xml import (
    BLACKHOLE,
    NS,
    NS_KEY,
    Meta,
    address_of,
    interface_for,
    meta_for,
    meta_xml,
    pci_address,
    read_meta,
    set_meta,
    to_string,
    vnic_from,
    vnic_name,
)

log = logging.getLogger(__name__)
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
INACTIVE_XML = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
UNPLUG_POLL = 0.02
BLACKHOLE_XML = f"<network><name>{BLACKHOLE}</name><bridge name='pbnonet0' stp='off'/></network>"
# libvirt's forward modes that give a network's vNICs a macvtap or a host device, not a tap.
MACVTAP_MODES = {"private", "vepa", "passthrough"}


# --- per-VM locks ----------------------------------------------------------------------------
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()
# New MACs are checked against every host and then applied while this is held, so two
# requests cannot both take the same free MAC.
MAC_LOCK = threading.Lock()


def vm_lock(host: str, uuid: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((host, uuid), threading.Lock())


# --- reading ---------------------------------------------------------------------------------
@dataclass
class NicState:
    """One vNIC as libvirt has it now."""

    vnic: Vnic
    iface: etree._Element  # the device (live when the VM runs), or the stored card
    target_dev: str | None = None
    pci_address: str | None = None
    ips: list[str] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag(self.vnic)


@dataclass
class VmState:
    dom: libvirt.virDomain
    running: bool
    persistent: bool
    root: etree._Element  # live XML when running, else the persistent XML (with secrets)
    meta: dict[str, Meta]
    nics: dict[str, NicState]

    @property
    def flags(self) -> int:
        """Where a change goes: the running VM and, when it has one, its definition."""
        return LIVE | (CONFIG if self.persistent else 0)


def etag(vnic: Vnic) -> str:
    """A strong ETag of what a client can change on the vNIC."""
    doc = json.dumps(config_json(vnic), sort_keys=True).encode()
    return '"' + hashlib.sha256(doc).hexdigest()[:20] + '"'


def lookup_vm(conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise VmNotFound(
                f"no VM '{name}' on this host; `plugboard vm-list` shows them"
            ) from None
        raise


def read_vm(
    dom: libvirt.virDomain, running: bool | None = None, persistent: bool | None = None
) -> VmState:
    """The VM's vNICs as libvirt has them (`running`, `persistent`: already known)."""
    persistent = bool(dom.isPersistent()) if persistent is None else persistent
    root = etree.fromstring(dom.XMLDesc(0).encode())
    if running is None:
        running = root.get("id") is not None  # only a running domain has an id
    if not running:  # with its secrets: a stopped VM's changes redefine it whole
        root = etree.fromstring(dom.XMLDesc(INACTIVE_XML).encode())
    meta = read_meta(root)
    nics: dict[str, NicState] = {}
    for iface in root.iterfind("./devices/interface"):
        name = vnic_name(iface)
        target = iface.find("target")
        target_dev = target.get("dev") if target is not None and running else None
        vnic = vnic_from(iface, meta.get(name), plugged=True)
        if target_dev and vnic.source is not None and vnic.source.type == "network":
            # A running card shows what its network gave it: libvirt names taps vnetN and
            # macvtaps macvtapN, and an Open vSwitch port has its virtualport (no need to ask
            # the network).
            kind = "macvtap" if target_dev.startswith(("macvtap", "macvlan")) else "tap"
            if kind == "tap" and iface.find("virtualport[@type='openvswitch']") is not None:
                kind = "ovs"
            vnic = vnic.with_(source=replace(vnic.source, attachment=kind))
        nics[name] = NicState(
            vnic=vnic,
            iface=iface,
            target_dev=target_dev,
            pci_address=pci_address(iface),
        )
    for name, entry in meta.items():
        if not entry.plugged and entry.interface is not None and name not in nics:
            nics[name] = NicState(
                vnic=vnic_from(entry.interface, entry, plugged=False),
                iface=entry.interface,
                pci_address=pci_address(entry.interface),
            )
    return VmState(dom, running, persistent, root, meta, nics)


def _with_ips(conn: libvirt.virConnect, state: VmState) -> None:
    """Fill in each plugged vNIC's addresses from its network's DHCP leases."""
    leases: dict[str, list[dict]] = {}
    for nic in state.nics.values():
        src = nic.vnic.source
        if not (state.running and nic.vnic.plugged and src and src.type == "network"):
            continue
        if src.network not in leases:
            try:
                leases[src.network] = conn.networkLookupByName(src.network).DHCPLeases()
            except libvirt.libvirtError:
                leases[src.network] = []
        nic.ips = [
            f"{lease['ipaddr']}/{lease['prefix']}"
            for lease in leases[src.network]
            if (lease.get("mac") or "").lower() == nic.vnic.mac
        ]


def list_vnics(host: HostConnection, vm: str) -> list[NicState]:
    def read(conn):
        state = read_vm(lookup_vm(conn, vm))
        _with_ips(conn, state)
        return list(state.nics.values())

    return host.call(read)


def get_vnic(host: HostConnection, vm: str, name: str) -> NicState:
    def read(conn):
        state = read_vm(lookup_vm(conn, vm))
        _with_ips(conn, state)
        return _nic(state, name, vm)

    return host.call(read)


def _nic(state: VmState, name: str, vm: str) -> NicState:
    try:
        return state.nics[name]
    except KeyError:
        raise VnicNotFound(
            f"VM '{vm}' has no vNIC '{name}'; `plugboard nic-list {vm}` shows them"
        ) from None


# --- JSON ------------------------------------------------------------------------------------
def source_json(source: Source | None, vlan: Vlan | None = None) -> dict[str, Any] | None:
    """The source as clients write it; an Open vSwitch port's VLANs are part of it (vlan: an
    access port's tag, trunk: the tags a trunk carries)."""
    if source is None:
        return None
    keys = {
        "network": ("network", "portgroup"),
        "bridge": ("bridge",),
        "ovs": ("bridge",),
        "direct": ("dev", "mode"),
    }.get(source.type, ())
    out = {"type": source.type} | {key: getattr(source, key) for key in keys}
    if source.type == "ovs":
        access = vlan is not None and not vlan.trunk and len(vlan.tags) == 1
        out["vlan"] = vlan.tags[0] if access else None
        out["trunk"] = list(vlan.tags) if vlan is not None and vlan.trunk else None
    return out


def config_json(vnic: Vnic) -> dict[str, Any]:
    """What a client can set on a vNIC, as JSON."""
    bandwidth: dict[str, dict[str, int]] = {}
    for key, value in vnic.bandwidth:
        direction, name = key.split(".", 1)
        bandwidth.setdefault(direction, {})[name] = value
    return {
        "name": vnic.name,
        "mac": vnic.mac,
        "model": vnic.model,
        "source": source_json(vnic.source, vnic.vlan),
        "plugged": vnic.plugged,
        "linked": vnic.linked,
        "bandwidth": bandwidth or None,
        "vlan": {"tags": list(vnic.vlan.tags), "trunk": vnic.vlan.trunk} if vnic.vlan else None,
    }


def nic_json(nic: NicState) -> dict[str, Any]:
    return config_json(nic.vnic) | {
        "active": nic.vnic.active,
        "target_dev": nic.target_dev,
        "pci_address": nic.pci_address,
        "ips": nic.ips,
        "etag": nic.etag,
    }


# --- checking what is asked ------------------------------------------------------------------
def resolve(
    conn: libvirt.virConnect,
    vnic: Vnic,
    known: dict[str, str] | None = None,
    current: Vnic | None = None,
) -> Vnic:
    """`vnic` with its source checked on the host and its attachment (tap, ovs, macvtap, hostdev)
    known: NETWORK_NOT_FOUND for a network the host does not have, HOST_INTERFACE_NOT_FOUND or
    OVS_BRIDGE_NOT_FOUND for a device or bridge it lacks (not checked again when `current`, the
    vNIC as it is, is wired there already)."""
    if vnic.model not in MODELS and vnic.model != "default":
        raise InvalidInput(f"model '{vnic.model}' is not one of {', '.join(MODELS)}", field="model")
    src = vnic.source
    if src is None:
        return vnic
    known = {} if known is None else known
    if src.type == "network":
        if src.network not in known:
            known[src.network] = _attachment(conn, src.network)
        return vnic.with_(source=Source(**{**src.__dict__, "attachment": known[src.network]}))
    device = src.dev if src.type == "direct" else src.bridge
    old = current.source if current is not None else None
    here = old is not None and (old.type, old.dev, old.bridge) == (src.type, src.dev, src.bridge)
    if not here and f"{src.type}:{device}" not in known:
        hostnet.check_source(conn, src.type, device)
        known[f"{src.type}:{device}"] = "ok"
    attachment = {"direct": "macvtap", "ovs": "ovs"}.get(src.type, "tap")
    return vnic.with_(source=Source(**{**src.__dict__, "attachment": attachment}))


def _attachment(conn: libvirt.virConnect, network: str) -> str:
    """tap, ovs, macvtap or hostdev: what a libvirt network gives its vNICs."""
    try:
        net = conn.networkLookupByName(network)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            raise NetworkNotFound(
                f"no network '{network}' on this host; `plugboard net-list` shows them",
                field="source.network",
            ) from None
        raise
    root = etree.fromstring(net.XMLDesc(0).encode())
    forward = root.find("forward")
    mode = forward.get("mode", "nat") if forward is not None else None
    if mode == "hostdev":
        return "hostdev"
    if mode in MACVTAP_MODES or (mode == "bridge" and root.find("bridge") is None):
        return "macvtap"  # a bridge-mode network without a bridge is a macvtap pool
    if root.find("virtualport[@type='openvswitch']") is not None:
        return "ovs"
    return "tap"


def resolve_current(conn: libvirt.virConnect, nic: NicState, known: dict[str, str]) -> Vnic:
    """The vNIC as it is, with its attachment known (its network may be gone by now)."""
    vnic = nic.vnic
    if nic.target_dev:  # a running card: read_vm knows its attachment
        return vnic
    try:
        return resolve(conn, vnic, known, current=vnic)  # as it is: not checked again
    except (NetworkNotFound, InvalidInput):
        return vnic


def _same(a: Vnic, b: Vnic) -> bool:
    """Equal as the client sees them (the attachment is derived, not chosen)."""
    return config_json(a) == config_json(b)


def ensure_blackhole(conn: libvirt.virConnect) -> None:
    """plugboard's network for vNICs with no network: a bridge with nothing behind it."""
    try:
        net = conn.networkLookupByName(BLACKHOLE)
    except libvirt.libvirtError:
        net = conn.networkDefineXML(BLACKHOLE_XML)
        net.setAutostart(1)
    if not net.isActive():
        net.create()


# --- applying --------------------------------------------------------------------------------
class Steps:
    """Steps done so far, each with its undo; `rollback()` undoes them in reverse."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def do(self, what: str, step: Callable[[], None], undo: Callable[[], None]) -> None:
        step()
        self._undo.append((what, undo))

    def rollback(self) -> list[str]:
        failures = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except (libvirt.libvirtError, HotunplugTimeout) as err:
                message = err.detail if isinstance(err, HotunplugTimeout) else error_message(err)
                log.error("rollback of '%s' failed: %s", what, message)
                failures.append(f"undo {what}: {message}")
        self._undo.clear()
        return failures


@dataclass
class Result:
    plan: Plan
    nic: NicState | None
    notes: list[str] = field(default_factory=list)
    announce: str | None = None  # QMP command to send after the change (see _run_locked)


class Applier:
    """Carries one planned change out on a VM (the VM's lock is held)."""

    def __init__(self, state: VmState, unplug_timeout: float) -> None:
        self.state = state
        self.dom = state.dom
        self.steps = Steps()
        self.unplug_timeout = unplug_timeout
        self.notes: list[str] = []
        self.announce: str | None = None  # the QMP command to send once verified

    # metadata ------------------------------------------------------------------------------
    def set_meta(self, name: str, entry: Meta | None) -> None:
        old = dict(self.state.meta)
        new = dict(old)
        new.pop(name, None)
        if entry is not None:
            new[name] = entry
        if meta_xml(new) == meta_xml(old):
            return
        self.steps.do(
            f"metadata of {name}", lambda: self._write_meta(new), lambda: self._write_meta(old)
        )
        self.state.meta = new

    def _write_meta(self, entries: dict[str, Meta]) -> None:
        self.dom.setMetadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, meta_xml(entries), NS_KEY, NS, self.state.flags
        )

    # devices of a running VM ---------------------------------------------------------------
    def update(self, old: etree._Element, new: etree._Element) -> None:
        flags = self.state.flags
        self.steps.do(
            "live update",
            lambda: self.dom.updateDeviceFlags(to_string(new), flags),
            lambda: self.dom.updateDeviceFlags(to_string(old), flags),
        )

    def unplug(self, iface: etree._Element, name: str) -> None:
        self.steps.do(
            f"unplug {name}", lambda: self._detach(iface, name), lambda: self._attach(iface)
        )

    def plug(self, iface: etree._Element, name: str, any_slot: bool = False) -> etree._Element:
        """Hot-plug; with `any_slot`, a card whose old slot was taken meanwhile goes into
        another free one."""
        try:
            plugged = self._attach(iface)
        except libvirt.libvirtError:
            address = address_of(iface)
            if not any_slot or address is None:
                raise
            iface = etree.fromstring(etree.tostring(iface))
            iface.remove(address_of(iface))
            plugged = self._attach(iface)
            self.notes.append("its old PCI slot was taken; it went into another one")
        self.steps.do(f"plug {name}", lambda: None, lambda: self._detach(plugged, name))
        return plugged

    def _attach(self, iface: etree._Element) -> etree._Element:
        """Hot-plug the card, then write it into the definition with the PCI address it got,
        so the running VM and its next start agree."""
        self.dom.attachDeviceFlags(to_string(iface), LIVE)
        plugged = _find_live(self.dom, iface)
        if self.state.persistent:
            try:
                self.dom.attachDeviceFlags(to_string(plugged), CONFIG)
            except libvirt.libvirtError:
                with contextlib.suppress(libvirt.libvirtError, HotunplugTimeout):
                    self._detach_live(plugged)
                raise
        return plugged

    def _detach(self, iface: etree._Element, name: str) -> None:
        self._detach_live(iface, name)
        if self.state.persistent:
            try:
                self.dom.detachDeviceFlags(to_string(iface), CONFIG)
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_DEVICE_MISSING:
                    raise

    def _detach_live(self, iface: etree._Element, name: str | None = None) -> None:
        """Ask the guest to release the card and wait until it has (or the timeout)."""
        mac = iface.find("mac").get("address")
        self.dom.detachDeviceFlags(to_string(iface), LIVE)
        deadline = time.monotonic() + self.unplug_timeout
        while _live_by_mac(self.dom, mac) is not None:
            if time.monotonic() > deadline:
                raise HotunplugTimeout(
                    f"the guest did not release vNIC {name or mac} within "
                    f"{self.unplug_timeout:g} s; it is still plugged (the guest may still "
                    "release it later)"
                )
            time.sleep(UNPLUG_POLL)

    # a stopped VM: one new definition -------------------------------------------------------
    def redefine(self, root: etree._Element) -> None:
        conn = self.dom.connect()
        old = etree.tostring(self.state.root, encoding="unicode")
        new = etree.tostring(root, encoding="unicode")
        self.steps.do("definition", lambda: conn.defineXML(new), lambda: conn.defineXML(old))


def _live_by_mac(dom: libvirt.virDomain, mac: str) -> etree._Element | None:
    root = etree.fromstring(dom.XMLDesc(0).encode())
    for iface in root.iterfind("./devices/interface"):
        if iface.find("mac").get("address").lower() == mac.lower():
            return iface
    return None


def _find_live(dom: libvirt.virDomain, iface: etree._Element) -> etree._Element:
    found = _live_by_mac(dom, iface.find("mac").get("address"))
    if found is None:
        raise libvirt.libvirtError("the card is not in the VM after hot-plug")
    return interface_for(vnic_from(found, None, plugged=True), found)


def apply_change(
    conn: libvirt.virConnect,
    state: VmState,
    current: NicState | None,
    desired: Vnic | None,
    steps_plan: Plan,
    unplug_timeout: float,
) -> Applier:
    """Carry out `steps_plan`; on failure undo everything and raise UPDATE_VNIC_FAILED."""
    if desired is not None and desired.source is None:
        ensure_blackhole(conn)
    applier = Applier(state, unplug_timeout)
    try:
        if not state.running:
            _apply_definition(applier, current, desired)
        else:
            _apply_running(applier, current, desired, steps_plan)
    except HotunplugTimeout as err:
        applier.steps.rollback()
        name = (desired or current.vnic).name
        now = read_vm(state.dom, state.running, state.persistent).nics.get(name)
        err.extra["vnic"] = config_json(now.vnic) if now is not None else None
        raise
    except libvirt.libvirtError as err:
        failures = applier.steps.rollback()
        raise UpdateVnicFailed(
            error_message(err), rollback_errors=failures, libvirt_code=err.get_error_code()
        ) from None
    return applier


def _apply_running(
    applier: Applier, current: NicState | None, desired: Vnic | None, steps_plan: Plan
) -> None:
    kinds = steps_plan.kinds
    name = (desired or current.vnic).name
    base = current.iface if current is not None else None
    if kinds == ("none",):
        return
    if kinds == ("config-only",):  # stays unplugged, is added unplugged, or is removed
        entry = meta_for(desired, interface_for(desired, base)) if desired else None
        applier.set_meta(name, entry)
        return
    if kinds == ("live-update",):
        applier.update(interface_for(current.vnic, base), interface_for(desired, base))
        applier.set_meta(name, meta_for(desired, None))
        _announce(applier, current.vnic, desired)
        return
    if kinds == ("unplug",):
        applier.unplug(interface_for(current.vnic, base), name)
        applier.set_meta(name, meta_for(desired, interface_for(desired, base)))
        return
    if kinds == ("plug",):
        applier.plug(interface_for(desired, base), name, any_slot=True)
        applier.set_meta(name, meta_for(desired, None))
        return
    # unplug + plug back into the same slot (new MAC, model or kind of attachment)
    applier.unplug(interface_for(current.vnic, base), name)
    applier.plug(interface_for(desired, base), name)
    applier.set_meta(name, meta_for(desired, None))


def _apply_definition(applier: Applier, current: NicState | None, desired: Vnic | None) -> None:
    """A stopped VM: edit its definition (devices and metadata) and define it once."""
    root = etree.fromstring(etree.tostring(applier.state.root))
    devices = root.find("devices")
    name = (desired or current.vnic).name
    old_device = None
    if current is not None and current.vnic.plugged:
        old_device = next(
            i for i in devices.iterfind("interface") if vnic_name(i) == current.vnic.name
        )
    new_iface = (
        interface_for(desired, current.iface if current is not None else None)
        if desired is not None
        else None
    )
    if desired is not None and desired.plugged:
        if old_device is not None:
            devices.replace(old_device, new_iface)
        else:
            _insert_interface(devices, new_iface)
    elif old_device is not None:
        devices.remove(old_device)
    meta = dict(applier.state.meta)
    meta.pop(name, None)
    entry = meta_for(desired, new_iface) if desired is not None else None
    if entry is not None:
        meta[name] = entry
    set_meta(root, meta)
    applier.redefine(root)


def _insert_interface(devices: etree._Element, iface: etree._Element) -> None:
    existing = devices.findall("interface")
    if existing:
        existing[-1].addnext(iface)
    else:
        devices.append(iface)


def _announce(applier: Applier, current: Vnic, desired: Vnic) -> None:
    """After a live re-wire with the cable in, have QEMU announce the guest on its new segment
    (RARP, or a gratuitous ARP from a virtio guest), so switches learn where the MAC is."""
    if current.source == desired.source or not desired.active or desired.source is None:
        return
    command = {
        "execute": "announce-self",
        "arguments": {
            "initial": 50,
            "max": 550,
            "rounds": 5,
            "step": 100,
            "interfaces": [f"ua-{desired.name}"],
            "id": f"ua-{desired.name}",
        },
    }
    applier.announce = json.dumps(command)


def send_announce(dom: libvirt.virDomain, command: str) -> None:
    """Ask QEMU to announce the guest; a failure is logged, never a failed change: the card
    is wired either way."""
    try:
        libvirt_qemu.qemuMonitorCommand(dom, command, 0)
    except libvirt.libvirtError as err:
        log.warning(
            "%s: the guest was not announced on its new network: %s",
            dom.name(),
            error_message(err),
        )


# --- the use cases ---------------------------------------------------------------------------
@dataclass
class Change:
    """What a client asks of one vNIC: only the fields it set."""

    fields: dict[str, Any]

    def applied_to(self, vnic: Vnic) -> Vnic:
        fields = dict(self.fields)
        leaves_ovs = vnic.source is not None and vnic.source.type == "ovs"
        new = fields.get("source", vnic.source)
        if leaves_ovs and (new is None or new.type != "ovs") and "vlan" not in fields:
            fields["vlan"] = None  # the VLANs were the OVS port's; they do not come along
        return vnic.with_(**fields)


def _verify(conn: libvirt.virConnect, before: VmState, desired: Vnic | None, name: str):
    """Read libvirt again: the vNIC must be as asked."""
    state = read_vm(before.dom, before.running, before.persistent)
    nic = state.nics.get(name)
    if desired is None:
        if nic is not None:
            raise UpdateVnicFailed(f"vNIC {name} is still there after it was removed")
        return None
    if nic is None or not _same(nic.vnic, desired):
        raise UpdateVnicFailed(
            f"libvirt did not apply the change to vNIC {name} as asked",
            found=config_json(nic.vnic) if nic else None,
        )
    return nic  # without ips: a re-wired guest has not asked its new network yet


def _locked(
    host: HostConnection, vm: str, work: Callable[[libvirt.virConnect, VmState], Result]
) -> Callable[[libvirt.virConnect], Result]:
    """`work` on the VM as it is now, with the VM's lock held (run on the host's threads)."""

    def run(conn):
        dom = lookup_vm(conn, vm)
        key = (host.name, dom.UUIDString())
        lock = vm_lock(*key)
        with lock:
            result = work(conn, read_vm(dom))
            if result.plan.kinds != ("none",):
                _changes[key] = _changes.get(key, 0) + 1
            seen = _changes.get(key, 0)
        if result.announce is not None:
            _schedule_announce(host, lock, key, seen, dom, result.announce)
        return result

    return run


def _run_locked(
    host: HostConnection,
    vm: str,
    work: Callable[[libvirt.virConnect, VmState], Result],
    timeout: float,
) -> Result:
    return host.call(_locked(host, vm, work), timeout=timeout)


# Changes made to each VM so far: an announcement still waiting when the VM changes again is
# dropped (the later change announces where the card is now, if its cable is in).
_changes: dict[tuple[str, str], int] = {}
ANNOUNCE_DELAY = 0.02


def _schedule_announce(host, lock, key, seen: int, dom, command: str) -> None:
    """Announce shortly after the answer, under the VM's lock (never racing its next change),
    unless the VM changed meanwhile: a burst of re-wires is announced once, where the card
    ended up. QEMU itself waits 50 ms before its first round."""

    def announce(_conn) -> None:
        with lock:
            if _changes.get(key) == seen:
                send_announce(dom, command)

    timer = threading.Timer(ANNOUNCE_DELAY, lambda: host.submit(announce))
    timer.daemon = True
    timer.start()


@dataclass
class VnicChangeRequest:
    """PATCH of one vNIC: what to change and how."""

    vm: str
    name: str
    change: Change
    if_match: str | None = None
    dry_run: bool = False
    unplug_timeout: float = 30.0

    @property
    def timeout(self) -> float:
        return self.unplug_timeout * 2 + 30

    def work(self, pool: macpool.Pool | None, in_use: set[str]):
        vm, name, change = self.vm, self.name, self.change

        def run(conn, state: VmState) -> Result:
            current = _nic(state, name, vm)
            if self.if_match is not None and self.if_match not in ("*", current.etag):
                raise PreconditionFailed(
                    f"vNIC {name} changed since you read it (ETag {current.etag}); read it "
                    "again and retry",
                    etag=current.etag,
                )
            known: dict[str, str] = {}
            current.vnic = resolve_current(conn, current, known)
            desired = resolve(conn, change.applied_to(current.vnic), known, current.vnic)
            if _same(current.vnic, desired):
                desired = current.vnic
            steps = plan(current.vnic, desired, state.running)
            if self.dry_run or steps.kinds == ("none",):
                return Result(steps, current)
            if desired.mac != current.vnic.mac:
                macpool.check_free(desired.mac, pool, in_use)
            done = apply_change(conn, state, current, desired, steps, self.unplug_timeout)
            nic = _verify_or_undo(conn, state, current, desired, steps)
            return Result(steps, nic, done.notes, announce=done.announce)

        return run


def change_vnic(
    host: HostConnection, registry: HostRegistry, pool: macpool.Pool | None, req: VnicChangeRequest
) -> Result:
    """Change one vNIC (desired -> plan -> apply -> verify); a new MAC is checked against
    every registered host first."""
    new_mac = req.change.fields.get("mac")
    if new_mac is None:
        return _run_locked(host, req.vm, req.work(None, set()), req.timeout)
    req.change.fields["mac"] = macpool.check_mac(new_mac)
    with MAC_LOCK:
        in_use = macpool.macs_in_use(registry)
        return _run_locked(host, req.vm, req.work(pool, in_use), req.timeout)


async def change_vnic_async(
    host: HostConnection, registry: HostRegistry, pool: macpool.Pool | None, req: VnicChangeRequest
) -> Result:
    """`change_vnic` for the event loop: a change without a new MAC goes straight to the
    host's threads (one thread hop less: a re-wire's latency is what users feel)."""
    if "mac" in req.change.fields:
        return await asyncio.to_thread(change_vnic, host, registry, pool, req)
    return await host.acall(_locked(host, req.vm, req.work(None, set())), req.timeout)


def _verify_or_undo(conn, state: VmState, current: NicState | None, desired: Vnic | None, steps):
    """Verify; a vNIC not as asked is put back as it was (by the reverse plan)."""
    try:
        return _verify(conn, state, desired, (desired or current.vnic).name)
    except UpdateVnicFailed:
        log.error("%s: verify failed after %s; putting it back", state.dom.name(), steps.kinds)
        back = read_vm(state.dom)
        now = back.nics.get((desired or current.vnic).name)
        if current is not None and now is not None:
            undo = plan(now.vnic, current.vnic, back.running)
            with contextlib.suppress(UpdateVnicFailed, HotunplugTimeout):
                apply_change(conn, back, now, current.vnic, undo, 30.0)
        raise


def add_vnic(
    host: HostConnection,
    registry: HostRegistry,
    pool: macpool.Pool,
    vm: str,
    fields: dict[str, Any],
    *,
    unplug_timeout: float = 30.0,
) -> Result:
    mac = fields.get("mac")
    if mac is not None:
        fields["mac"] = macpool.check_mac(mac)

    def work(conn, state: VmState) -> Result:
        name = fields.get("name") or next_name(state.nics)
        if name in state.nics:
            raise VnicExists(f"VM '{vm}' already has a vNIC '{name}'")
        mac = fields.get("mac") or macpool.allocate(pool, in_use)
        if fields.get("mac"):
            macpool.check_free(mac, pool, in_use)
        desired = resolve(conn, Vnic(**(fields | {"name": name, "mac": mac})))
        steps = plan(None, desired, state.running)
        done = apply_change(conn, state, None, desired, steps, unplug_timeout)
        return Result(steps, _verify_or_undo(conn, state, None, desired, steps), done.notes)

    with MAC_LOCK:
        in_use = macpool.macs_in_use(registry)
        return _run_locked(host, vm, work, unplug_timeout * 2 + 30)


def remove_vnic(host: HostConnection, vm: str, name: str, *, if_match: str | None = None) -> Result:
    def work(conn, state: VmState) -> Result:
        current = _nic(state, name, vm)
        if if_match is not None and if_match not in ("*", current.etag):
            raise PreconditionFailed(
                f"vNIC {name} changed since you read it; read it again and retry",
                etag=current.etag,
            )
        try:
            steps = plan(current.vnic, None, state.running)
        except PlanError as err:
            raise CannotRemoveActiveDevice(str(err), vnic=config_json(current.vnic)) from None
        apply_change(conn, state, current, None, steps, 30.0)
        _verify(conn, state, None, name)
        return Result(steps, None)

    return _run_locked(host, vm, work, 60)


def next_name(existing) -> str:
    n = 1
    while f"nic{n}" in existing:
        n += 1
    return f"nic{n}"
