"""vNICs of VMs: read, add, change, remove — desired -> plan -> apply -> verify.

libvirt holds every vNIC (plugboard.engine.vm_state reads them). A change is planned
(plugboard.vnic.planner), carried out with undo (plugboard.engine.executor) and verified,
with the VM's lock held; a live re-wire is then announced (plugboard.engine.announce). A new
MAC is checked against every registered host first, with MAC_LOCK held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace
from typing import Any

from plugboard.engine import announce, macpool
from plugboard.engine.executor import apply_change, verify, verify_or_undo
from plugboard.engine.locks import MAC_LOCK, vm_lock
from plugboard.engine.sources import resolve, resolve_current
from plugboard.engine.vm_state import VmState, VnicState, add_ips, find_vnic, read_vm
from plugboard.errors import CannotRemoveActiveDevice, PreconditionFailed, VnicExists
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Store
from plugboard.vnic import Plan, PlanError, Vnic, VnicEdit, plan
from plugboard.vnic.model import Attachment

REMOVE_TIMEOUT = 60.0


@dataclass
class VnicChange:
    """What a change of one vNIC did: the plan, the vNIC after it (None: removed), notes,
    and the hosts a new MAC could not be checked on."""

    plan: Plan
    vnic: VnicState | None
    applied: bool
    notes: list[str] = field(default_factory=list)
    unchecked_hosts: list[str] = field(default_factory=list)
    announce: str | None = None  # the QMP command that announces the guest afterwards


Work = Callable[[Libvirt, VmState], VnicChange]


# --- reading ---------------------------------------------------------------------------------
def list_vnics(host: HostConnection, vm: str) -> list[VnicState]:
    def read(lv: Libvirt) -> list[VnicState]:
        state = read_vm(lv.domain(vm))
        add_ips(lv, state)
        return list(state.vnics.values())

    return host.call(read)


def get_vnic(host: HostConnection, vm: str, name: str) -> VnicState:
    def read(lv: Libvirt) -> VnicState:
        state = read_vm(lv.domain(vm))
        add_ips(lv, state)
        return find_vnic(state, name)

    return host.call(read)


# --- changing --------------------------------------------------------------------------------
def _locked(host: HostConnection, vm: str, work: Work) -> Callable[[Libvirt], VnicChange]:
    """`work` on the VM as it is now, with the VM's lock held (run on the host's threads);
    then the announcement, if the change asks for one."""

    def run(lv: Libvirt) -> VnicChange:
        dom = lv.domain(vm)
        key = (host.name, dom.uuid)
        lock = vm_lock(*key)
        with lock:
            change = work(lv, read_vm(dom))
            seen = announce.count_change(key) if change.applied else announce.changes(key)
        if change.announce is not None:
            announce.schedule(host, lock, key, seen, dom, change.announce)
        return change

    return run


def check_etag(state: VnicState, if_match: str | None) -> None:
    """PRECONDITION_FAILED unless `if_match` (an If-Match header) is the vNIC's ETag or *."""
    if if_match is not None and if_match not in ("*", state.etag):
        raise PreconditionFailed(
            f"vNIC {state.vnic.name} changed since you read it (ETag {state.etag}); read it "
            "again and retry",
            etag=state.etag,
        )


@dataclass(frozen=True)
class VnicChangeRequest:
    """PATCH of one vNIC: what to change and how."""

    vm: str
    name: str
    edit: VnicEdit
    if_match: str | None = None
    dry_run: bool = False
    hotunplug_timeout: float = 30.0

    @property
    def timeout(self) -> float:
        return self.hotunplug_timeout * 2 + 30

    def work(self, pool: macpool.Pool | None, in_use: set[str]) -> Work:
        def run(lv: Libvirt, state: VmState) -> VnicChange:
            current = find_vnic(state, self.name)
            check_etag(current, self.if_match)
            known: dict[str, Attachment] = {}
            current.vnic = resolve_current(lv, current, known)
            desired = resolve(lv, self.edit.applied_to(current.vnic), known, current.vnic)
            if current.vnic.same_as(desired):
                desired = current.vnic
            steps = plan(current.vnic, desired, state.running)
            if self.dry_run or steps.kinds == ("none",):
                return VnicChange(steps, current, applied=False)
            if pool is not None and desired.mac != current.vnic.mac:
                macpool.check_free(desired.mac, pool, in_use)
            outcome = apply_change(lv, state, current, desired, steps, self.hotunplug_timeout)
            now = verify_or_undo(lv, state, current, desired)
            live = steps.kinds == ("live-update",)
            command = announce.command_for(current.vnic, desired) if live else None
            return VnicChange(steps, now, True, outcome.notes, announce=command)

        return run


def change_vnic(
    host: HostConnection, registry: HostRegistry, store: Store, req: VnicChangeRequest
) -> VnicChange:
    """Change one vNIC (desired -> plan -> apply -> verify); a new MAC is checked against
    every registered host first."""
    if "mac" not in req.edit.fields:
        return host.call(_locked(host, req.vm, req.work(None, set())), timeout=req.timeout)
    mac = macpool.check_mac(req.edit.fields["mac"])
    req = replace(req, edit=VnicEdit(req.edit.fields | {"mac": mac}))
    pool = _pool(store)
    with MAC_LOCK:
        scan = macpool.macs_in_use(registry)
        work = req.work(pool, scan.macs)
        change = host.call(_locked(host, req.vm, work), timeout=req.timeout)
    change.unchecked_hosts = scan.unchecked_hosts
    return change


async def change_vnic_async(
    host: HostConnection, registry: HostRegistry, store: Store, req: VnicChangeRequest
) -> VnicChange:
    """`change_vnic` for the event loop: a change without a new MAC goes straight to the
    host's threads (one thread hop less: a re-wire's latency is what users feel)."""
    if "mac" in req.edit.fields:
        return await asyncio.to_thread(change_vnic, host, registry, store, req)
    return await host.acall(_locked(host, req.vm, req.work(None, set())), req.timeout)


def _pool(store: Store) -> macpool.Pool:
    with store.session() as db:
        return macpool.get_pool(db)


def add_vnic(
    host: HostConnection,
    registry: HostRegistry,
    store: Store,
    vm: str,
    fields: dict[str, Any],
    *,
    hotunplug_timeout: float = 30.0,
) -> VnicChange:
    """Add a vNIC (hot-plugged when the VM runs and it is plugged); its MAC is the one
    asked, if free, or the pool's lowest free one."""
    if fields.get("mac") is not None:
        fields = fields | {"mac": macpool.check_mac(fields["mac"])}
    pool = _pool(store)
    with MAC_LOCK:
        scan = macpool.macs_in_use(registry)
        work = _adding(vm, fields, pool, scan.macs, hotunplug_timeout)
        change = host.call(_locked(host, vm, work), timeout=hotunplug_timeout * 2 + 30)
    change.unchecked_hosts = scan.unchecked_hosts
    return change


def _adding(
    vm: str, fields: dict[str, Any], pool: macpool.Pool, in_use: set[str], timeout: float
) -> Work:
    def work(lv: Libvirt, state: VmState) -> VnicChange:
        name = fields.get("name") or next_name(state.vnics)
        if name in state.vnics:
            raise VnicExists(f"VM '{vm}' already has a vNIC '{name}'")
        mac = fields.get("mac") or macpool.allocate(pool, in_use)
        if fields.get("mac"):
            macpool.check_free(mac, pool, in_use)
        desired = resolve(lv, Vnic(**(fields | {"name": name, "mac": mac})))
        steps = plan(None, desired, state.running)
        outcome = apply_change(lv, state, None, desired, steps, timeout)
        now = verify_or_undo(lv, state, None, desired)
        return VnicChange(steps, now, True, outcome.notes)

    return work


def remove_vnic(
    host: HostConnection, vm: str, name: str, *, if_match: str | None = None
) -> VnicChange:
    """Remove a vNIC: the VM is stopped, or the vNIC is unplugged."""

    def work(lv: Libvirt, state: VmState) -> VnicChange:
        current = find_vnic(state, name)
        check_etag(current, if_match)
        try:
            steps = plan(current.vnic, None, state.running)
        except PlanError as err:
            raise CannotRemoveActiveDevice(str(err), vnic=current.vnic) from None
        apply_change(lv, state, current, None, steps, 30.0)
        verify(state, None, name)
        return VnicChange(steps, None, applied=True)

    return host.call(_locked(host, vm, work), timeout=REMOVE_TIMEOUT)


def next_name(existing: Container[str]) -> str:
    """The first of nic1, nic2, ... not in `existing`."""
    n = 1
    while f"nic{n}" in existing:
        n += 1
    return f"nic{n}"
