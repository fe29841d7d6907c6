"""vNICs of VMs: read, add, change, remove — desired -> plan -> apply -> verify.

libvirt holds every vNIC (plugboard.engine.vm_state reads them); the store adds what libvirt
cannot say (plugboard.engine.vnic_notes). A change is planned (plugboard.vnic.planner) and
carried out by the executor (plugboard.engine.executor): journaled, step by step, undone on
failure, verified. It runs with the VM's lock held (plugboard.engine.locks), after recovery of
any change of the VM that was interrupted; a live re-wire is then announced
(plugboard.engine.announce). A new MAC is checked against every registered host and reserved
in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace
from typing import Any

from plugboard.engine import announce, guests, journal, macpool, mirroring, policy, profiles
from plugboard.engine.etags import check_etag
from plugboard.engine.executor import execute, steps_for
from plugboard.engine.locks import MAC_LOCK, holding
from plugboard.engine.policy import Action, host_object, network_object, vm_object
from plugboard.engine.recovery import recover_vm
from plugboard.engine.sources import (
    check_network_active,
    ensure_blackhole,
    resolve,
    resolve_current,
)
from plugboard.engine.steps import StepContext
from plugboard.engine.tokens import Principal
from plugboard.engine.vm_state import VmState, VnicState, add_ips, fill_ips, find_vnic, read_vm
from plugboard.engine.vnic_notes import annotate
from plugboard.errors import (
    CannotRemoveActiveDevice,
    HostUnreachable,
    MacAddressInUse,
    NetworkNamedNotFound,
    NoFreePciSlot,
    OperationPending,
    PlugboardError,
    VnicExists,
)
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.model import HostEvent
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Store
from plugboard.vnic import Plan, PlanError, Vnic, VnicEdit, plan
from plugboard.vnic.model import Attachment, Source, vnic_to_json
from plugboard.vnic.planner import refresh
from plugboard.vnic.slots import domain_slots

REMOVE_TIMEOUT = 60.0
_REFUSALS: dict[str, type[PlugboardError]] = {
    "CANNOT_REMOVE_ACTIVE_DEVICE": CannotRemoveActiveDevice,
    "NO_FREE_PCI_SLOT": NoFreePciSlot,
}
ALLOCATION_TRIES = 16  # another process may take the MAC picked: the next free one is tried


@dataclass
class VnicChange:
    """What a change of one vNIC did: the plan, the vNIC after it (None: removed), notes,
    and the hosts a new MAC could not be checked on; for the audit log, the vNIC before it
    (None: added) and as asked (None: removed). A change that failed under way is attached
    to its error, not applied (`PlugboardError.attempt`)."""

    plan: Plan
    vnic: VnicState | None
    applied: bool
    notes: list[str] = field(default_factory=list)
    unchecked_hosts: list[str] = field(default_factory=list)
    announce: str | None = None  # the QMP command that announces the guest afterwards
    before: Vnic | None = None
    desired: Vnic | None = None


@dataclass
class LockedVm:
    """A VM with its lock held, for one change: libvirt, the VM as it is, and what the store
    knows of it; `step_notes` gathers what the steps have to say."""

    lv: Libvirt
    store: Store
    host: str
    state: VmState
    notes: journal.VmNotes
    hotunplug_timeout: float
    step_notes: list[str] = field(default_factory=list)

    def context(self) -> StepContext:
        return StepContext(
            self.lv, self.state.dom, self.state.persistent, self.hotunplug_timeout, self.step_notes
        )

    def plan(self, current: Vnic | None, desired: Vnic | None, **facts: Any) -> Plan:
        """The plan for this VM as it is (its free PCI slots, when it runs); the planner's
        refusals as plugboard's errors."""
        slots = domain_slots(self.state.root) if self.state.running else None
        try:
            return plan(current, desired, self.state.running, slots=slots, **facts)
        except PlanError as err:
            raise _REFUSALS[err.code](str(err), vnic=current or desired) from None

    def check_feasible(self, current: Vnic, desired: Vnic, steps: Plan) -> list[str]:
        """What can be known before anything changes, so a dry run fails as the real run
        would: a network to join must be active. Warnings for what cannot be known."""
        joins = (
            "plug" in steps.kinds
            or "reconnect" in steps.kinds
            or ("live-update" in steps.kinds and current.source != desired.source)
        )
        if joins and desired.plugged and desired.source and desired.source.type == "network":
            check_network_active(self.lv, desired.source.network or "")
        if "unplug" in steps.kinds and not guests.has_released_a_card(self.state.dom):
            return [f"warning: {guests.UNPLUG_UNTESTED}"]
        return []

    def entry(self, kind: str, before: Vnic | None, desired: Vnic | None) -> journal.Entry:
        name = (desired or before).name  # type: ignore[union-attr]
        return journal.Entry.new(
            self.host,
            self.state.dom.uuid,
            self.state.dom.name,
            name,
            kind,
            before=vnic_to_json(before) if before is not None else None,
            desired=vnic_to_json(desired) if desired is not None else None,
            steps=[],
        )


Work = Callable[[LockedVm], VnicChange]


# --- reading ---------------------------------------------------------------------------------
def list_vnics(host: HostConnection, store: Store, by: Principal, vm: str) -> list[VnicState]:
    policy.require(by, Action.SEE, vm_object(host.name, vm))
    return host.call(lambda lv: list(_read(lv, store, host.name, vm).vnics.values()))


def get_vnic(host: HostConnection, store: Store, by: Principal, vm: str, name: str) -> VnicState:
    policy.require(by, Action.SEE, vm_object(host.name, vm))
    return host.call(lambda lv: find_vnic(_read(lv, store, host.name, vm), name))


def _read(lv: Libvirt, store: Store, host: str, vm: str) -> VmState:
    state = read_vm(lv.domain(vm), definition=True)
    add_ips(lv, state)
    annotate(store, host, state, journal.vm_notes(store, host, state.dom.uuid))
    return state


# --- changing --------------------------------------------------------------------------------
def _locked(
    host: HostConnection, store: Store, vm: str, work: Work, timeout: float
) -> Callable[[Libvirt], VnicChange]:
    """`work` on the VM as it is now, with the VM's lock held (run on the host's threads),
    after recovery of the VM's interrupted changes; then the announcement, if any."""

    def run(lv: Libvirt) -> VnicChange:
        dom = lv.domain(vm)
        key = (host.name, dom.uuid)
        with holding(store, *key) as lock:
            notes = journal.vm_notes(store, host.name, dom.uuid)
            if notes.unfinished or notes.attention:
                notes = _recovered(store, lv, host.name, dom, notes, timeout)
            change = work(LockedVm(lv, store, host.name, read_vm(dom), notes, timeout))
            seen = announce.count_change(key) if change.applied else announce.changes(key)
        if change.applied:  # libvirt tells of a card plugged or unplugged, not one changed
            name = (change.desired or change.before).name  # type: ignore[union-attr]
            event = HostEvent(host.name, "domain", dom.name, "vnic-changed", dom.uuid, f"ua-{name}")
            host.publish(event)
        if change.announce is not None:
            announce.schedule(host, lock, key, seen, dom, change.announce)
        return change

    return run


def _recovered(
    store: Store, lv: Libvirt, host: str, dom: Any, notes: journal.VmNotes, timeout: float
) -> journal.VmNotes:
    try:
        recover_vm(store, lv, dom, notes, timeout)
    except HostUnreachable:
        raise
    except PlugboardError as err:
        pending = notes.unfinished[0] if notes.unfinished else None
        raise OperationPending(
            f"an interrupted change of VM '{dom.name}' could not be recovered: {err.detail}; "
            "plugboard tries again when the host reconnects",
            operation=pending.id if pending else None,
        ) from err
    return journal.vm_notes(store, host, dom.uuid)


def _check_etag(state: VnicState, if_match: str | None) -> None:
    check_etag(state.etag, if_match, f"vNIC {state.vnic.name}")


@dataclass(frozen=True)
class VnicChangeRequest:
    """PATCH of one vNIC: what to change and how."""

    vm: str
    name: str
    edit: VnicEdit
    by: Principal  # who asks: plugboard.engine.policy's caller
    if_match: str | None = None
    dry_run: bool = False
    hotunplug_timeout: float = 30.0

    @property
    def timeout(self) -> float:
        return self.hotunplug_timeout * 2 + 30

    def work(self, pool: macpool.Pool | None, in_use: set[str]) -> Work:
        def run(s: LockedVm) -> VnicChange:
            current = find_vnic(s.state, self.name)
            _check_etag(current, self.if_match)
            known: dict[str, Attachment] = {}
            current.vnic = resolve_current(s.lv, current, known)
            asked = self.edit.applied_to(current.vnic)
            check_wiring(self.by, s.host, current.vnic, asked)
            desired = _resolved(s.lv, asked, known, current.vnic)
            if current.vnic.same_as(desired):
                desired = current.vnic
            note = s.notes.notes.get(self.name)
            cut = note.disconnected if note is not None and s.state.running else None
            steps = s.plan(current.vnic, desired, disconnected=cut)
            new_mac = desired.mac != current.vnic.mac
            if pool is not None and new_mac:
                macpool.check_free(desired.mac, pool, in_use)
            warnings = s.check_feasible(current.vnic, desired, steps)
            if self.dry_run or steps.kinds == ("none",):
                if not self.dry_run:
                    _accept_drift(s, current.vnic, note)
                if self.dry_run and s.state.running:
                    fill_ips(s.lv, current)
                after = _as_after(current, desired, steps) if self.dry_run else current
                return VnicChange(
                    steps, after, False, warnings, before=current.vnic, desired=desired
                )
            kind = "reconnect" if steps.kinds == ("reconnect",) else "change"
            now = _carry_out(s, kind, current, desired, steps, reserve=new_mac and pool)
            fresh_tap = kind == "reconnect" or "plug" in steps.kinds or _rewired(current, desired)
            if cut and fresh_tap:
                journal.set_note(s.store, s.host, s.state.dom.uuid, self.name, disconnected=None)
                cut = None
            if now is not None and s.state.running and now.vnic.plugged and now.vnic.source:
                now.connected, now.disconnected = cut is None, cut
                fill_ips(s.lv, now)
            live = steps.kinds == ("live-update",)
            command = announce.command_for(current.vnic, desired) if live else None
            return VnicChange(
                steps,
                now,
                True,
                s.step_notes,
                announce=command,
                before=current.vnic,
                desired=desired,
            )

        return run


def _resolved(
    lv: Libvirt,
    asked: Vnic,
    known: dict[str, Attachment] | None = None,
    current: Vnic | None = None,
) -> Vnic:
    """`resolve`; a network missing on this host named by the vNIC's profile says so."""
    try:
        return resolve(lv, asked, known, current)
    except NetworkNamedNotFound as err:
        if asked.profile is None:
            raise
        raise err.reworded(
            f"vNIC profile '{asked.profile}' wires to network '{asked.source.network}', "  # type: ignore[union-attr]
            f"which host {lv.host} does not have; nothing was changed. Define the network "
            "there, or wire the vNIC to another profile or network"
        ) from None


def _as_after(current: VnicState, desired: Vnic, steps: Plan) -> VnicState:
    """What a dry run shows: the vNIC as it would be after the change (its slot as planned;
    its addresses only where it stays on the same network, plugged)."""
    slot = steps.actions[-1].pci_address or current.pci_address
    same_network = desired.plugged and current.vnic.source == desired.source
    return replace(
        current,
        vnic=desired,
        pci_address=slot,
        target_dev=current.target_dev if desired.plugged and "plug" not in steps.kinds else None,
        ips=current.ips if same_network else [],
    )


def _rewired(current: VnicState, desired: Vnic) -> bool:
    return current.vnic.as_chosen().source != desired.as_chosen().source


def _accept_drift(s: LockedVm, vnic: Vnic, note: Any) -> None:
    """A change that asks for the vNIC as it is takes it as plugboard's own: a drift made
    outside plugboard is accepted, not overwritten."""
    if note is None or note.baseline == vnic_to_json(vnic):
        return
    journal.set_note(s.store, s.host, s.state.dom.uuid, vnic.name, baseline=vnic_to_json(vnic))


def _carry_out(
    s: LockedVm,
    kind: str,
    current: VnicState | None,
    desired: Vnic | None,
    steps_plan: Plan,
    *,
    reserve: Any = False,
) -> VnicState | None:
    before = current.vnic if current else None
    if desired is not None and desired.source is None:
        ensure_blackhole(s.lv)
    entry = s.entry(kind, before, desired)
    steps = steps_for(s.state, current, desired, steps_plan, entry.id)
    try:
        return execute(s.store, s.context(), entry, steps, reserve=bool(reserve))
    except PlugboardError as err:  # what was tried, for the audit log
        err.attempt = VnicChange(steps_plan, None, False, before=before, desired=desired)
        raise


def change_vnic(
    host: HostConnection, registry: HostRegistry, store: Store, req: VnicChangeRequest
) -> VnicChange:
    """Change one vNIC (desired -> plan -> apply -> verify); a new MAC is checked against
    every registered host first; a profile named is expanded into what it sets."""
    policy.require(req.by, Action.OPERATE, vm_object(host.name, req.vm))
    fields, profile = profiles.expand(store, req.edit.fields)
    if profile is not None and profile.port_mirroring:
        mirroring.check_profile_mirroring(host, req.by)
    req = replace(req, edit=VnicEdit(fields))
    if "mac" not in req.edit.fields:
        work = req.work(None, set())
        change = host.call(_locked(host, store, req.vm, work, req.hotunplug_timeout), req.timeout)
        return _mirrored(host, store, req.by, req.vm, change, profile, req.dry_run)
    mac = macpool.check_mac(req.edit.fields["mac"])
    req = replace(req, edit=VnicEdit(req.edit.fields | {"mac": mac}))
    pool = _pool(store)
    with MAC_LOCK:
        scan = _scan(registry, store)
        work = req.work(pool, scan.macs)
        change = host.call(
            _locked(host, store, req.vm, work, req.hotunplug_timeout), timeout=req.timeout
        )
    change.unchecked_hosts = scan.unchecked_hosts
    return _mirrored(host, store, req.by, req.vm, change, profile, req.dry_run)


def _mirrored(
    host: HostConnection,
    store: Store,
    by: Principal,
    vm: str,
    change: VnicChange,
    profile: profiles.ProfileSpec | None,
    dry_run: bool,
) -> VnicChange:
    """A vNIC wired through a profile: its port mirroring as the profile says (switched after
    the card is as asked; a failure is a note, the vNIC change stands)."""
    if profile is None or dry_run or change.vnic is None:
        return change
    try:
        switched = mirroring.follow_profile(
            host, store, by, vm, change.vnic.vnic.name, profile.port_mirroring
        )
    except PlugboardError as err:
        change.notes.append(f"port mirroring of profile {profile.name} not switched: {err.detail}")
        return change
    if switched is not None:
        state = "on" if profile.port_mirroring else "off"
        change.notes.append(f"port mirroring {state}, as profile {profile.name} says")
    return change


async def change_vnic_async(
    host: HostConnection, registry: HostRegistry, store: Store, req: VnicChangeRequest
) -> VnicChange:
    """`change_vnic` for the event loop: a change without a new MAC goes straight to the
    host's threads (one thread hop less: a re-wire's latency is what users feel)."""
    policy.require(req.by, Action.OPERATE, vm_object(host.name, req.vm))
    if "mac" in req.edit.fields or req.edit.fields.get("profile") is not None:
        return await asyncio.to_thread(change_vnic, host, registry, store, req)
    req = replace(req, edit=VnicEdit(profiles.expand(store, req.edit.fields)[0]))
    work = req.work(None, set())
    return await host.acall(_locked(host, store, req.vm, work, req.hotunplug_timeout), req.timeout)


def _pool(store: Store) -> macpool.Pool:
    with store.session() as db:
        return macpool.get_pool(db)


def _scan(registry: HostRegistry, store: Store) -> macpool.MacScan:
    """The MACs in use on every host, and those reserved in the store (by any process)."""
    scan = macpool.macs_in_use(registry)
    scan.macs |= journal.reserved_macs(store)
    return scan


def add_vnic(
    host: HostConnection,
    registry: HostRegistry,
    store: Store,
    by: Principal,
    vm: str,
    fields: dict[str, Any],
    *,
    hotunplug_timeout: float = 30.0,
) -> VnicChange:
    """Add a vNIC (hot-plugged when the VM runs and it is plugged); its MAC is the one
    asked, if free, or the pool's lowest free one."""
    policy.require(by, Action.OPERATE, vm_object(host.name, vm))
    fields, profile = profiles.expand(store, fields)
    if profile is not None and profile.port_mirroring:
        mirroring.check_profile_mirroring(host, by)
    if fields.get("mac") is not None:
        fields = fields | {"mac": macpool.check_mac(fields["mac"])}
    pool = _pool(store)
    with MAC_LOCK:
        scan = _scan(registry, store)
        work = _adding(by, vm, fields, pool, scan.macs)
        change = host.call(
            _locked(host, store, vm, work, hotunplug_timeout), timeout=hotunplug_timeout * 2 + 30
        )
    change.unchecked_hosts = scan.unchecked_hosts
    return _mirrored(host, store, by, vm, change, profile, dry_run=False)


def _adding(
    by: Principal, vm: str, fields: dict[str, Any], pool: macpool.Pool, in_use: set[str]
) -> Work:
    def work(s: LockedVm) -> VnicChange:
        name = fields.get("name") or next_name(s.state.vnics)
        if name in s.state.vnics:
            raise VnicExists(f"VM '{vm}' already has a vNIC '{name}'")
        taken = set(in_use)
        for _ in range(ALLOCATION_TRIES):
            mac = fields.get("mac") or macpool.allocate(pool, taken)
            if fields.get("mac"):
                macpool.check_free(mac, pool, taken)
            asked = Vnic(**(fields | {"name": name, "mac": mac}))
            check_wiring(by, s.host, None, asked)
            desired = _resolved(s.lv, asked)
            steps = s.plan(None, desired)
            s.check_feasible(desired.with_(plugged=False), desired, steps)
            try:
                now = _carry_out(s, "add", None, desired, steps, reserve=not pool.allow_duplicates)
            except MacAddressInUse:
                if fields.get("mac"):
                    raise
                taken.add(mac)  # another service process has just taken it
                continue
            return VnicChange(steps, now, True, s.step_notes, desired=desired)
        raise MacAddressInUse("no free MAC could be reserved; retry", mac=None)

    return work


def refresh_vnic(
    host: HostConnection,
    store: Store,
    by: Principal,
    vm: str,
    name: str,
    why: str,
    own: dict[str, Any],
    hotunplug_timeout: float = 30.0,
) -> VnicChange:
    """A plugged card of a running VM given its network's settings again, as it is otherwise
    (plugboard.vnic.planner.refresh says how); journaled and undone on failure like any
    change. `own`: its VLANs and QoS of its own, as read before its network changed (read
    now, what the network gave it before looks like its own). A card that is not plugged
    into a running VM has nothing to refresh."""
    policy.require(by, Action.OPERATE, vm_object(host.name, vm))

    def work(s: LockedVm) -> VnicChange:
        current = find_vnic(s.state, name)
        if not (s.state.running and current.vnic.plugged):
            return VnicChange(plan(None, None, False), current, False, before=current.vnic)
        desired = current.vnic.with_(**own)
        steps = refresh(current.vnic, why)
        now = _carry_out(s, "change", current, desired, steps)
        return VnicChange(steps, now, True, s.step_notes, before=current.vnic, desired=desired)

    run = _locked(host, store, vm, work, hotunplug_timeout)
    return host.call(run, timeout=hotunplug_timeout * 2 + 30)


def remove_vnic(
    host: HostConnection,
    store: Store,
    by: Principal,
    vm: str,
    name: str,
    *,
    if_match: str | None = None,
) -> VnicChange:
    """Remove a vNIC: the VM is stopped, or the vNIC is unplugged."""
    policy.require(by, Action.OPERATE, vm_object(host.name, vm))

    def work(s: LockedVm) -> VnicChange:
        current = find_vnic(s.state, name)
        _check_etag(current, if_match)
        steps = s.plan(current.vnic, None)
        _carry_out(s, "remove", current, None, steps)
        return VnicChange(steps, None, applied=True, before=current.vnic)

    return host.call(_locked(host, store, vm, work, 30.0), timeout=REMOVE_TIMEOUT)


def check_wiring(by: Principal, host: str, before: Vnic | None, asked: Vnic) -> None:
    """Wiring a vNIC to a network needs network-user on it; to the host's own devices (a
    bridge, a macvtap device, an Open vSwitch bridge), host-admin; to no network, nothing.
    A change that keeps the vNIC where it is needs nothing more than the VM's grant. Asked
    before the network is looked up: a user learns nothing of a network they may not use."""
    if by.is_admin or asked.source is None:
        return
    if before is not None and before.source is not None and _same_wire(before.source, asked.source):
        return
    if asked.source.network is not None:
        policy.require(by, Action.WIRE, network_object(host, asked.source.network))
    else:
        policy.require(by, Action.WIRE, host_object(host))


def _same_wire(a: Source, b: Source) -> bool:
    return replace(a, attachment="tap") == replace(b, attachment="tap")


def next_name(existing: Container[str]) -> str:
    """The first of nic1, nic2, ... not in `existing`."""
    n = 1
    while f"nic{n}" in existing:
        n += 1
    return f"nic{n}"
