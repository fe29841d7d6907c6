"""Port mirroring of vNICs, switched on and off live (no unplug), and kept applied.

The setting is the monitor VM's own, in its `<metadata>` under the namespace below (libvirt
keeps metadata per namespace: it never touches plugboard's vNIC record), on the running VM
and in its definition, so `virsh dumpxml` shows it and a restarted VM still has it:

    <mirroring xmlns="https://plugboard.dev/xmlns/mirroring/1">
      <monitor nic="nic1" port-mirroring="yes"/>
      <monitor nic="nic2"><of vm="web1" nic="nic1"/></monitor>
    </mirroring>

The rules themselves (plugboard.hostnet.mirror) follow the taps, which change under them: a
re-wire moves a tap to another bridge, a VM restart makes new taps, a QoS change makes libvirt
replace the tap's qdiscs. So they are never "applied once": every change of the setting, and
every event of the host's feed (a domain started, stopped, a device added or removed,
plugboard's own vnic-changed, the host connected, the periodic tick), reconciles the whole
host: the desired rules from the settings and the domains' live XML, the actual ones read
from tc and OVSDB, and the difference fixed.

Who may: switching a vNIC's mirroring needs OPERATE on its VM; `mirror_of` also OPERATE on
each mirrored VM (copying a VM's traffic is as much as re-wiring it somewhere to capture it);
`port_mirroring` MANAGE on the host (host-admin): it copies the traffic of every VM on the
network, whoever's. Switching it off needs only the monitor's VM.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field

from lxml import etree

from plugboard.engine import audit, policy
from plugboard.engine.locks import holding
from plugboard.engine.policy import Action, host_object, vm_object
from plugboard.engine.tokens import Principal
from plugboard.engine.vm_state import find_vnic, read_vm
from plugboard.errors import (
    HostUnreachable,
    MirroredVnicNotFound,
    MirroringConflict,
    MirroringNeedsLocalHost,
    NotFound,
    VmNotFound,
)
from plugboard.hostnet import listing, mirror, netlink, ovsdb
from plugboard.hostnet.mirror import Desired, Monitor, Tap, TcChange, Topology
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.model import HostEvent
from plugboard.store import Store
from plugboard.vnic.xml import interface_of, vnic_name

log = logging.getLogger(__name__)

NS = "https://plugboard.dev/xmlns/mirroring/1"
NS_KEY = "pbmirror"
REMOTE = "mirroring needs the host's libvirtd on this machine (remote hosts: not built yet)"
# The feed's events after which the rules may differ from the settings.
EVENTS = {
    ("host", "connected"),
    ("host", "tick"),
    ("network", "started"),
    ("network", "stopped"),
    ("domain", "started"),
    ("domain", "stopped"),
    ("domain", "device-added"),
    ("domain", "device-removed"),
    ("domain", "vnic-changed"),
}
_host_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()
# Hosts whose last reconcile found a monitor (or failed): a domain event there reconciles.
# Elsewhere only a domain that starts with a setting does (or the tick): a bulk re-wire's
# hundred vnic-changed events cost nothing on a host without mirroring.
_active: dict[str, bool] = {}


@dataclass(frozen=True)
class MirrorSetting:
    """One monitor vNIC's wish: a copy of its whole network, or of the vNICs named "vm/nic"."""

    port_mirroring: bool = False
    mirror_of: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return self.port_mirroring or bool(self.mirror_of)


OFF = MirrorSetting()


# --- the setting in the domain's metadata ----------------------------------------------------
def read_settings(domain: etree._Element) -> dict[str, MirrorSetting]:
    """Each monitor vNIC's setting in a domain's XML (by vNIC name)."""
    root = domain.find(f"./metadata/{{{NS}}}mirroring")
    found: dict[str, MirrorSetting] = {}
    if root is None:
        return found
    for entry in root.iterfind(f"{{{NS}}}monitor"):
        of = tuple(f"{o.get('vm')}/{o.get('nic')}" for o in entry.iterfind(f"{{{NS}}}of"))
        setting = MirrorSetting(entry.get("port-mirroring") == "yes", of)
        if setting.on:
            found[entry.get("nic", "")] = setting
    return found


def settings_xml(settings: dict[str, MirrorSetting]) -> str | None:
    """The metadata element for `settings`, as setMetadata takes it (None: remove it)."""
    kept = {nic: s for nic, s in settings.items() if s.on}
    if not kept:
        return None
    root = etree.Element("mirroring")
    for nic, setting in sorted(kept.items()):
        entry = etree.SubElement(root, "monitor", nic=nic)
        if setting.port_mirroring:
            entry.set("port-mirroring", "yes")
        for ref in setting.mirror_of:
            vm, _, name = ref.partition("/")
            etree.SubElement(entry, "of", vm=vm, nic=name)
    return etree.tostring(root, encoding="unicode")


# --- what the caller sees --------------------------------------------------------------------
@dataclass
class MirroringView:
    """A vNIC's mirroring: the setting, the rules that carry it now, and what is not mirrored
    (and why)."""

    vm: str
    nic: str
    setting: MirrorSetting
    applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class MirroringChange:
    before: MirrorSetting
    view: MirroringView


def get_mirroring(host: HostConnection, by: Principal, vm: str, nic: str) -> MirroringView:
    policy.require(by, Action.SEE, vm_object(host.name, vm))

    def read(lv: Libvirt) -> MirroringView:
        state = read_vm(lv.domain(vm), definition=True)
        find_vnic(state, nic)
        setting = read_settings(state.root).get(nic, OFF)
        return _view(lv, vm, nic, setting, None)

    return host.call(read)


def vm_mirroring(host: HostConnection, by: Principal, vm: str) -> dict[str, MirrorSetting]:
    """Each vNIC's mirroring setting on a VM (by vNIC name; a vNIC not mirroring is absent),
    from its XML alone: what a VM's page shows on each card without reading tc or OVSDB."""
    policy.require(by, Action.SEE, vm_object(host.name, vm))
    return host.call(lambda lv: read_settings(read_vm(lv.domain(vm)).root))


def set_mirroring(
    host: HostConnection,
    store: Store,
    by: Principal,
    vm: str,
    nic: str,
    port_mirroring: bool,
    mirror_of: list[str],
) -> MirroringChange:
    """Switch a vNIC's mirroring live (no unplug): store the setting with the VM, then
    reconcile the host's rules. MIRRORING_CONFLICT for both kinds at once or a vNIC that
    mirrors itself; MIRRORED_VNIC_NOT_FOUND for a `mirror_of` naming nothing; nothing is
    changed then."""
    policy.require(by, Action.OPERATE, vm_object(host.name, vm))
    wanted = MirrorSetting(port_mirroring, tuple(dict.fromkeys(mirror_of)))
    _check_setting(wanted, vm, nic)
    if port_mirroring:
        policy.require(by, Action.MANAGE, host_object(host.name))
    for ref in wanted.mirror_of:
        _require_mirrored(by, host.name, ref)

    def work(lv: Libvirt) -> MirroringChange:
        endpoints = _endpoints(lv)
        dom = lv.domain(vm)
        for ref in wanted.mirror_of:
            _check_exists(lv, ref)
        with holding(store, lv.host, dom.uuid):
            state = read_vm(dom, definition=True)
            find_vnic(state, nic)
            settings = read_settings(state.root)
            before = settings.get(nic, OFF)
            settings[nic] = wanted
            if before != wanted:
                _write(dom, settings, running=state.running, persistent=state.persistent)
        return MirroringChange(before, _view(lv, vm, nic, wanted, endpoints, apply=True))

    return host.call(work)


def follow_profile(
    host: HostConnection, store: Store, by: Principal, vm: str, nic: str, port_mirroring: bool
) -> MirroringChange | None:
    """A vNIC wired through a vNIC profile mirrors its whole network while the profile says
    so, and stops when it no longer does (a `mirror_of` of its own is left alone unless the
    profile turns whole-network mirroring on). None: nothing to switch."""
    current = host.call(lambda lv: read_settings(read_vm(lv.domain(vm)).root).get(nic, OFF))
    if current.port_mirroring == port_mirroring:
        return None
    keep = [] if port_mirroring else list(current.mirror_of)
    return set_mirroring(host, store, by, vm, nic, port_mirroring, keep)


def check_profile_mirroring(host: HostConnection, by: Principal) -> None:
    """What whole-network mirroring through a profile needs, asked before the vNIC changes:
    host-admin on the host, and the host's libvirtd on this machine."""
    policy.require(by, Action.MANAGE, host_object(host.name))
    if listing.local_endpoints(host.uri) is None:
        raise MirroringNeedsLocalHost(REMOTE)


def _check_setting(wanted: MirrorSetting, vm: str, nic: str) -> None:
    if wanted.port_mirroring and wanted.mirror_of:
        raise MirroringConflict(
            "port_mirroring (every frame on the vNIC's network) and mirror_of (the vNICs "
            "named) exclude each other: give one, or neither to switch mirroring off"
        )
    if f"{vm}/{nic}" in wanted.mirror_of:
        raise MirroringConflict(f"{vm}/{nic} cannot mirror itself; name other vNICs")


def _not_found(ref: str) -> MirroredVnicNotFound:
    vm, _, nic = ref.partition("/")
    return MirroredVnicNotFound(
        f"mirror_of names {ref}, but this host has no VM '{vm}' with a vNIC '{nic}'; "
        f"`plugboard nic-list {vm}` shows its vNICs; nothing was changed"
    )


def _require_mirrored(by: Principal, host: str, ref: str) -> None:
    """OPERATE on a mirrored vNIC's VM; one the caller may not see is answered as missing."""
    obj = vm_object(host, ref.partition("/")[0])
    if not policy.can(by, Action.SEE, obj):
        raise _not_found(ref)
    policy.require(by, Action.OPERATE, obj)


def _check_exists(lv: Libvirt, ref: str) -> None:
    vm, _, nic = ref.partition("/")
    try:
        state = read_vm(lv.domain(vm), definition=True)
    except VmNotFound:
        raise _not_found(ref) from None
    if nic not in state.vnics:
        raise _not_found(ref)


def _write(
    dom: LibvirtDomain, settings: dict[str, MirrorSetting], *, running: bool, persistent: bool
) -> None:
    dom.set_metadata(settings_xml(settings), NS_KEY, NS, live=running, config=persistent)


def _endpoints(lv: Libvirt) -> tuple[str | None, str]:
    """(network namespace, OVSDB endpoint) of a host whose libvirtd runs here."""
    local = listing.local_endpoints(lv.uri)
    if local is None:
        raise MirroringNeedsLocalHost(REMOTE)
    return local


def _view(
    lv: Libvirt,
    vm: str,
    nic: str,
    setting: MirrorSetting,
    endpoints: tuple[str | None, str] | None,
    *,
    apply: bool = False,
) -> MirroringView:
    """The vNIC's mirroring as the host has it (after a reconcile, with `apply`)."""
    view = MirroringView(vm, nic, setting)
    if endpoints is None:
        try:
            endpoints = listing.local_endpoints(lv.uri)
        except OSError as err:
            view.notes.append(f"the host's namespace cannot be read: {err.strerror}")
            return view
        if endpoints is None:
            view.notes.append(REMOTE)
            return view
    outcome = reconcile_host(lv, endpoints) if apply else None
    netns, endpoint = endpoints
    _, topology = _gather(lv, netns, endpoint, whole_network=setting.port_mirroring)
    tap = topology.taps.get(f"{vm}/{nic}")
    desired = mirror.desired_rules(
        [Monitor(vm, nic, setting.port_mirroring, setting.mirror_of)], topology
    )
    view.notes += desired.notes.get(f"{vm}/{nic}", [])
    if tap is not None:
        hooks = mirror.read_hooks(netns)
        for (dev, hook), rule in sorted(mirror.read_rules(netns, hooks).items()):
            if tap.dev in rule.targets:
                view.applied.append(f"tc {hook} of {dev} -> {tap.dev}")
        for monitor, (bridge, port) in mirror.read_ovs(endpoint).items():
            if monitor == f"{vm}/{nic}":
                view.applied.append(f"Open vSwitch Mirror on {bridge} -> {port}")
    if outcome is not None:
        view.notes += [f"not applied: {failure}" for failure in outcome.failed]
    return view


# --- the reconcile ---------------------------------------------------------------------------
def _host_lock(host: str) -> threading.Lock:
    with _locks_lock:
        return _host_locks.setdefault(host, threading.Lock())


def _gather(
    lv: Libvirt, netns: str | None, endpoint: str, *, whole_network: bool = False
) -> tuple[list[Monitor], Topology]:
    """The running monitors and what the host has: taps (from the domains' live XML), Linux
    bridges and their ports (netlink), and, when a monitor mirrors a whole network (or
    `whole_network`), the Open vSwitch bridges (OVSDB)."""
    monitors: list[Monitor] = []
    taps: dict[str, Tap] = {}
    for dom in lv.domains():
        try:
            if not dom.is_active():
                continue
            root = dom.tree()
        except NotFound:  # gone meanwhile
            continue
        for nic, setting in read_settings(root).items():
            monitors.append(Monitor(dom.name, nic, setting.port_mirroring, setting.mirror_of))
        for element in root.iterfind("./devices/interface"):
            target, source = element.find("target"), element.find("source")
            if target is None or not target.get("dev"):
                continue
            name = vnic_name(interface_of(element))
            bridge = source.get("bridge") if source is not None else None
            taps[f"{dom.name}/{name}"] = Tap(dom.name, name, target.get("dev", ""), bridge)
    bridges = {i.name: list(i.ports) for i in netlink.read(netns) if i.type == "bridge"}
    topology = Topology(taps, bridges)
    if whole_network or any(m.port_mirroring for m in monitors):
        # no Open vSwitch on the host: its monitors are on Linux bridges
        with contextlib.suppress(ovsdb.OvsdbUnavailable):
            topology.ovs_bridges = frozenset(ovsdb.read(endpoint).bridges)
    return monitors, topology


@dataclass
class HostOutcome:
    desired: Desired
    tc: TcChange
    ovs: TcChange

    @property
    def failed(self) -> list[str]:
        return self.tc.failed + self.ovs.failed

    @property
    def changed(self) -> list[str]:
        return [f"+{a}" for a in self.tc.added + self.ovs.added] + [
            f"-{r}" for r in self.tc.removed + self.ovs.removed
        ]


def reconcile_host(lv: Libvirt, endpoints: tuple[str | None, str]) -> HostOutcome:
    """Make the host's mirroring rules what its VMs' settings ask, as the host is now."""
    netns, endpoint = endpoints
    with _host_lock(lv.host):
        monitors, topology = _gather(lv, netns, endpoint)
        desired = mirror.desired_rules(monitors, topology)
        tc = mirror.reconcile_tc(netns, desired.tc)
        ovs = mirror.reconcile_ovs(endpoint, desired.ovs)
        _active[lv.host] = bool(monitors or tc.failed or ovs.failed)
    return HostOutcome(desired, tc, ovs)


class MirrorReconciler:
    """The host feed's subscriber that keeps mirroring applied (plugboard.hosts.feed)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _concerned(event: HostEvent, lv: Libvirt) -> bool:
        """Whether the event may change a rule: any event on a host with mirroring (or not
        checked yet), the tick and network events anywhere, a VM that starts with a setting."""
        if event.kind != "domain" or _active.get(lv.host, True):
            return True
        if event.what != "started":
            return False
        try:
            return bool(read_settings(lv.domain(event.name).tree()))
        except NotFound:
            return False

    def __call__(self, event: HostEvent, lv: Libvirt) -> None:
        if (event.kind, event.what) not in EVENTS or not self._concerned(event, lv):
            return
        try:
            endpoints = listing.local_endpoints(lv.uri)
            if endpoints is None:
                return  # a remote host: nothing plugboard can mirror there (yet)
            outcome = reconcile_host(lv, endpoints)
        except HostUnreachable:
            log.info("host %s went away while reconciling mirroring", event.host)
            return
        except (OSError, mirror.MirrorError) as err:
            log.warning("host %s: mirroring not reconciled on %s: %s", event.host, event, err)
            return
        if outcome.changed or outcome.failed:
            detail = "; ".join(outcome.changed + [f"failed: {f}" for f in outcome.failed])
            log.info("host %s: mirroring reconciled after %s: %s", event.host, event.what, detail)
            audit.note(
                self.store,
                target=f"hosts/{event.host}",
                action="reconcile",
                result="mirroring",
                detail=f"after {event.kind} {event.what} ({event.name}): {detail}",
            )
