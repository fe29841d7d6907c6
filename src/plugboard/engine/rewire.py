"""The bulk re-wire (issue 19): every vNIC on one libvirt network of a host (or those of some
VMs) moved to another network, as an operation (plugboard.engine.operations) whose results
fill in as it goes.

Everything that can refuse the whole is checked before anything changes: the caller may
wire vNICs to the new network and operate each VM concerned, the new network exists and
runs, the old one exists. Then each vNIC is one ordinary vNIC change (plugboard.engine.vnics:
planned, journaled, undone on failure, under its VM's lock); the VMs go in parallel, up to
PARALLEL at once, each VM's vNICs one after the other. When a vNIC of a VM fails, the vNICs
of that VM this operation has moved go back where they were, and its others are not tried;
other VMs are not touched. With verify "lease", each re-wired active card of a running VM
must get a DHCP lease on the new network within the deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from plugboard.engine import audit, policy, vnic_audit
from plugboard.engine.operations import Operation, Operations, VnicResult
from plugboard.engine.policy import Action, host_object, network_object, vm_object
from plugboard.engine.sources import check_network_active
from plugboard.engine.tokens import Principal
from plugboard.engine.vm_state import VnicState, read_vm
from plugboard.engine.vnics import VnicChange, VnicChangeRequest, change_vnic
from plugboard.errors import Conflict, HostUnreachable, PlugboardError
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Store
from plugboard.vnic import VnicEdit
from plugboard.vnic.model import Source

log = logging.getLogger(__name__)
PARALLEL = 8  # VMs re-wired at once (each VM's vNICs go one after the other)
VERIFY_TIMEOUT = 60.0  # seconds for a re-wired guest's DHCP lease on the new network
LEASE_LOOK = 0.5  # seconds between looks at the new network's leases
AUDIT_ACTION = "PATCH /hosts/{host}/vms/{vm}/nics/{nic} (rewire)"


@dataclass(frozen=True)
class RewireRequest:
    """Move the vNICs on network `source` (of the VMs `vms`, or of every VM) to `target`."""

    source: str
    target: str
    by: Principal
    vms: tuple[str, ...] | None = None
    dry_run: bool = False
    verify: Literal["lease"] | None = None
    verify_timeout: float = VERIFY_TIMEOUT
    hotunplug_timeout: float = 30.0


@dataclass
class _Job:
    """What one operation needs to run."""

    host: HostConnection
    registry: HostRegistry
    store: Store
    req: RewireRequest
    op: Operation
    leases_before: dict[str, int]
    sources: dict[tuple[str, str], Source]  # (vm, vnic): its source before


def start_rewire(
    host: HostConnection,
    registry: HostRegistry,
    store: Store,
    operations: Operations,
    req: RewireRequest,
) -> Operation:
    """Check and select (refusals raise here, before anything changes), then run: a dry run
    before this returns, a re-wire on a thread of its own (follow the operation)."""
    job = _prepare(host, registry, store, req)
    operations.add(job.op)
    if req.dry_run:
        _run(job)
    else:
        # A daemon: a service stopping mid-way leaves each vNIC change to the journal's recovery.
        name = f"rewire-{job.op.id[:8]}"
        threading.Thread(target=_run, args=(job,), name=name, daemon=True).start()
    return job.op


# --- before anything changes -----------------------------------------------------------------
def _prepare(
    host: HostConnection, registry: HostRegistry, store: Store, req: RewireRequest
) -> _Job:
    if req.source == req.target:
        # 409, not 422: the body is valid; it asks for nothing that is not so already
        raise Conflict(f"the vNICs are on network '{req.target}' already; name another `to`")
    by = req.by
    policy.require(by, Action.SEE, host_object(host.name))
    policy.require(by, Action.WIRE, network_object(host.name, req.target))

    def read(lv: Libvirt) -> tuple[dict[str, list[VnicState]], dict[str, int]]:
        check_network_active(lv, req.target)  # 404 when missing, 409 when stopped
        found = {dom.name: _on(dom, req.source) for dom in _domains(lv, host.name, req)}
        _check_source(lv, by, host.name, req.source, any(found.values()))
        before = _leases(lv, req.target) if req.verify and not req.dry_run else {}
        return found, before

    found, leases_before = host.call(read)
    for vm, vnics in found.items():  # a VM named in `vms` was asked about already
        if vnics:
            policy.require(by, Action.OPERATE, vm_object(host.name, vm))
    results = [
        VnicResult(vm, v.vnic.name, v.vnic.mac, v.pci_address, network=req.source)
        for vm in sorted(found)
        for v in found[vm]
    ]
    sources: dict[tuple[str, str], Source] = {}
    for vm in found:
        for v in found[vm]:
            assert v.vnic.source is not None  # on the network: see _on
            sources[(vm, v.vnic.name)] = v.vnic.source
    params = {
        "from": req.source,
        "to": req.target,
        "vms": list(req.vms) if req.vms is not None else None,
        "dry_run": req.dry_run,
        "verify": req.verify,
    }
    op = Operation("rewire", host.name, by.user_id, by.user, params, results)
    return _Job(host, registry, store, req, op, leases_before, sources)


def _domains(lv: Libvirt, host: str, req: RewireRequest) -> list[LibvirtDomain]:
    """The VMs asked for (each one the caller may operate: 404 or 403 otherwise), or every
    VM the caller may see."""
    if req.vms is None:
        return policy.keep_visible(req.by, lv.domains(), lambda d: vm_object(host, d.name))
    for name in req.vms:
        policy.require(req.by, Action.OPERATE, vm_object(host, name))
    return [lv.domain(name) for name in dict.fromkeys(req.vms)]


def _on(dom: LibvirtDomain, network: str) -> list[VnicState]:
    """The VM's vNICs (plugged or not) on the libvirt network."""
    return [
        v
        for v in read_vm(dom).vnics.values()
        if v.vnic.source is not None
        and v.vnic.source.type == "network"
        and v.vnic.source.network == network
    ]


def _check_source(lv: Libvirt, by: Principal, host: str, network: str, in_use: bool) -> None:
    """404 for a network that is not there; a user who may not see it learns nothing of it
    either (404 in the same words) unless their own VMs' vNICs are on it."""
    obj = network_object(host, network)
    if not lv.has_network(network) or not (in_use or policy.can(by, Action.SEE, obj)):
        raise policy.hidden(obj)


def _leases(lv: Libvirt, network: str) -> dict[str, int]:
    """The network's DHCP leases now: MAC -> expiry (a lease renewed later is a new one)."""
    leases: dict[str, int] = {}
    for lease in lv.network(network).dhcp_leases():
        mac = (lease.get("mac") or "").lower()
        leases[mac] = max(leases.get(mac, 0), int(lease.get("expirytime") or 0))
    return leases


# --- carrying it out -------------------------------------------------------------------------
def _run(job: _Job) -> None:
    by_vm: dict[str, list[VnicResult]] = {}
    for result in job.op.results:
        by_vm.setdefault(result.vm, []).append(result)
    try:
        if by_vm:
            with ThreadPoolExecutor(min(PARALLEL, len(by_vm)), "rewire-vm") as pool:
                for vm, results in by_vm.items():
                    pool.submit(_one_vm, job, vm, results)
    finally:
        job.op.finish()


def _one_vm(job: _Job, vm: str, results: list[VnicResult]) -> None:
    """One VM's vNICs, one after the other; on a failure, the VM's moved vNICs go back."""
    try:
        moved: list[tuple[VnicResult, VnicChange]] = []
        for index, result in enumerate(results):
            change = _change(job, result, job.req.target)
            if isinstance(change, PlugboardError):
                _failed(job, result, change)
                if not job.req.dry_run:
                    _undo(job, moved)
                    for rest in results[index + 1 :]:
                        job.op.update(rest, outcome="skipped", error=_not_tried(result))
                    return
                continue
            moved.append((result, change))
            now = job.req.source if job.req.dry_run else job.req.target
            job.op.update(result, network=now, plan=list(change.plan.kinds))
        _verify(job, moved)
    except Exception as err:  # a bug: the VM's vNICs say so, the others go on
        log.exception("bulk re-wire of VM %s failed", vm)
        for result in results:
            if not result.finished:
                job.op.update(result, outcome="failed", error=_error(err))


def _change(job: _Job, result: VnicResult, network: str) -> VnicChange | PlugboardError:
    """One vNIC to `network` (or back to where it was, when that is its old network), as
    one ordinary vNIC change, recorded in the audit log."""
    back = network == job.req.source
    source = job.sources[(result.vm, result.vnic)] if back else Source("network", network=network)
    # An undo puts back what the caller had: it needs no grant on the old network, as the
    # executor's own undo asks none.
    by = replace(job.req.by, role="admin") if back else job.req.by
    req = VnicChangeRequest(
        result.vm,
        result.vnic,
        VnicEdit({"source": source}),
        by,
        dry_run=job.req.dry_run,
        hotunplug_timeout=job.req.hotunplug_timeout,
    )
    how: dict[str, Any] = {
        "operation": "change",
        "name": result.vnic,
        "asked": {"source": {"type": "network", "network": network}},
        "dry_run": job.req.dry_run,
    }
    started = time.perf_counter()
    try:
        change = change_vnic(job.host, job.registry, job.store, req)
    except PlugboardError as err:
        if not job.req.dry_run:
            _record(job, result, vnic_audit.failed(err, **how), err.status, started)
        return err
    if not job.req.dry_run:
        _record(job, result, vnic_audit.changed(change, **how), 200, started)
    return change


def _record(
    job: _Job, result: VnicResult, account: vnic_audit.VnicAccount, status: int, started: float
) -> None:
    by = job.req.by
    took = (time.perf_counter() - started) * 1000
    with job.store.engine.begin() as db:
        audit.record(
            db,
            actor=by.name,
            via=by.via,
            action=AUDIT_ACTION,
            target=f"hosts/{job.host.name}/vms/{result.vm}/nics/{result.vnic}",
            status=status,
            result="ok" if status < 400 else account.data.get("error", {}).get("code", "ERROR"),
            detail=f"{account.detail} (operation {job.op.id})",
            duration_ms=took,
            data=account.data | {"bulk_operation": job.op.id},
        )


def _failed(job: _Job, result: VnicResult, err: PlugboardError) -> None:
    attempt: VnicChange | None = err.attempt
    # Where it is: as it was, unless its undo failed or the host went away mid-way (then
    # recovery settles it, and the vNIC says so).
    undone = attempt is None or not (
        isinstance(err, HostUnreachable) or err.extra.get("rollback_errors")
    )
    job.op.update(
        result,
        outcome="failed",
        plan=list(attempt.plan.kinds) if attempt is not None else [],
        network=job.req.source if undone else None,
        error=_error(err),
    )


def _undo(job: _Job, moved: list[tuple[VnicResult, VnicChange]]) -> None:
    """The VM's vNICs this operation moved, back where they were (the last first)."""
    for result, _ in reversed(moved):
        back = _change(job, result, job.req.source)
        if isinstance(back, PlugboardError):
            error = {"code": back.code, "detail": f"re-wired, and not moved back: {back.detail}"}
            job.op.update(result, outcome="failed", error=error)
        else:
            slot = back.vnic.pci_address if back.vnic is not None else None
            job.op.update(result, outcome="rolled-back", network=job.req.source, slot=slot)


def _verify(job: _Job, moved: list[tuple[VnicResult, VnicChange]]) -> None:
    """Each moved vNIC ends ok; with verify "lease", once its card, when active on a running
    VM, has a new lease on the new network (or the deadline has passed: `no-lease`)."""
    final = "planned" if job.req.dry_run else "ok"
    waiting: dict[str, VnicResult] = {}
    for result, change in moved:
        slot = change.vnic.pci_address if change.vnic is not None else None
        active = change.vnic is not None and change.vnic.active
        if job.req.verify is None or job.req.dry_run or not active:
            verify = "not-active" if job.req.verify and not job.req.dry_run else None
            job.op.update(result, outcome=final, slot=slot, verify=verify)
        else:
            job.op.update(result, slot=slot)
            waiting[result.mac] = result
    deadline = time.monotonic() + job.req.verify_timeout
    while waiting:
        for mac, ip in _new_leases(job, set(waiting)).items():
            job.op.update(waiting.pop(mac), outcome="ok", verify="lease", lease_ip=ip)
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(LEASE_LOOK)
    for result in waiting.values():
        job.op.update(result, outcome="ok", verify="no-lease")


def _new_leases(job: _Job, macs: set[str]) -> dict[str, str]:
    """The MACs among `macs` with a lease on the new network newer than the one they had
    when the operation began: MAC -> IP."""

    def read(lv: Libvirt) -> list[dict[str, Any]]:
        return lv.network(job.req.target).dhcp_leases()

    found: dict[str, str] = {}
    try:
        leases = job.host.call(read)
    except PlugboardError as err:  # looked at again until the deadline
        log.info("leases of %s not read: %s", job.req.target, err.detail)
        return found
    for lease in leases:
        mac = (lease.get("mac") or "").lower()
        newer = int(lease.get("expirytime") or 0) > job.leases_before.get(mac, -1)
        if mac in macs and newer and (mac not in found or lease.get("type") == 0):
            found[mac] = lease["ipaddr"]  # an IPv4 lease first, if it has both
    return found


def _error(err: Exception) -> dict[str, str]:
    if isinstance(err, PlugboardError):
        return {"code": err.code, "detail": err.detail}
    return {"code": PlugboardError.code, "detail": f"internal error: {err!r}"}


def _not_tried(failed: VnicResult) -> dict[str, str]:
    return {
        "code": "NOT_TRIED",
        "detail": f"not tried: {failed.vnic} of VM {failed.vm} failed, so the VM was rolled back",
    }
