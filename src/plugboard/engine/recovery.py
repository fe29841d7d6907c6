"""Recovery: operations the journal holds unfinished (the service was killed, the host went
away) are finished where every remaining step can be done, or else rolled back to the vNIC as
it was. It runs with the VM's lock held: when a host connects (at start, after libvirtd came
back) for each VM of the host with unfinished operations, and before any change of a VM. The
audit log says what became of each ("nic1: MAC change interrupted; rolled back").
"""

from __future__ import annotations

import logging

from plugboard.engine import audit, journal
from plugboard.engine.executor import finish_done, finish_rolled_back, rollback, run_steps, verify
from plugboard.engine.journal import Entry
from plugboard.engine.steps import StepContext, step_from_json
from plugboard.engine.vm_state import read_vm
from plugboard.errors import HostUnreachable
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.store import Store
from plugboard.vnic.metadata import NS, NS_KEY, read_pending, read_records, records_xml
from plugboard.vnic.model import Vnic, vnic_from_json

log = logging.getLogger(__name__)
KINDS = {"add": "addition", "change": "change", "remove": "removal", "reconnect": "reconnect"}


def recover_vm(
    store: Store, lv: Libvirt, dom: LibvirtDomain, notes: journal.VmNotes, timeout: float
) -> None:
    """Recover every unfinished operation of one VM (its lock is held); clear the calls for
    attention of vNICs found as they were or as they were asked to be."""
    for entry in notes.unfinished:
        recover(store, lv, dom, entry, timeout)
    if notes.attention:
        vnics = read_vm(dom).vnics
        for name, entry in notes.attention.items():
            now = vnics.get(name)
            if _settled(entry, now.vnic if now is not None else None):
                journal.finish(store, entry, journal.CLEARED, detail=entry.detail)


def recover(store: Store, lv: Libvirt, dom: LibvirtDomain, entry: Entry, timeout: float) -> str:
    """Finish `entry` or roll it back; what became of it, in words (also in the audit log)."""
    state = read_vm(dom)
    steps = [step_from_json(s) for s in entry.steps]
    ctx = StepContext(lv, dom, state.persistent, timeout)
    planned_live = any(s["step"] != "define" for s in entry.steps)
    if planned_live and not state.running:
        outcome = _settle_stopped(store, ctx, entry)
    else:
        outcome = _finish_or_undo(store, ctx, entry, steps)
    what = KINDS.get(entry.kind, entry.kind)
    detail = f"{entry.vnic}: {what} interrupted; {outcome}"
    log.warning("%s (VM %s, operation %s)", detail, entry.vm_name, entry.id)
    audit.note(
        store,
        target=f"hosts/{entry.host}/vms/{entry.vm_name}/nics/{entry.vnic}",
        action=f"recover {entry.kind}",
        result="recovered" if "attention" not in outcome else "NEEDS_ATTENTION",
        detail=detail,
    )
    return outcome


def _finish_or_undo(store: Store, ctx: StepContext, entry: Entry, steps: list) -> str:
    # The first step not known to be done may have been done just before the crash.
    if entry.done < len(steps) and steps[entry.done].done(ctx):
        entry.done += 1
    try:
        run_steps(store, ctx, entry, steps)
        verify(ctx, entry)
    except HostUnreachable:
        raise
    except Exception as err:
        why = getattr(err, "detail", None) or str(err)
        failures = rollback(ctx, entry, steps)
        if failures:
            finish_rolled_back(store, entry, journal.ATTENTION, "; ".join([why, *failures]))
            return f"could not be finished ({why}) nor rolled back: needs attention"
        finish_rolled_back(store, entry, journal.ROLLED_BACK, f"recovered: rolled back ({why})")
        return "rolled back"
    finish_done(store, entry, "recovered: completed")
    return "completed"


def _settle_stopped(store: Store, ctx: StepContext, entry: Entry) -> str:
    """A change planned for the running VM, which has stopped since: its definition decides."""
    root = ctx.dom.tree(inactive=True)
    if read_pending(root) is not None:
        clean = records_xml(read_records(root))
        ctx.dom.set_metadata(clean, NS_KEY, NS, live=False, config=True)
    now = read_vm(ctx.dom, running=False).vnics.get(entry.vnic)
    desired = vnic_from_json(entry.desired) if entry.desired else None
    before = vnic_from_json(entry.before) if entry.before else None
    if (now is None and desired is None) or (now and desired and now.vnic.same_as(desired)):
        finish_done(store, entry, "recovered: the VM stopped; its definition is as asked")
        return "completed (the VM had stopped)"
    if (now is None and before is None) or (now and before and now.vnic.same_as(before)):
        finish_rolled_back(store, entry, journal.ROLLED_BACK, "recovered: the VM stopped")
        return "rolled back (the VM had stopped)"
    finish_rolled_back(store, entry, journal.ATTENTION, "the VM stopped half-way")
    return "the VM stopped half-way: needs attention"


def _settled(entry: Entry, now: Vnic | None) -> bool:
    """Whether a vNIC marked for attention is wholly as it was, or as it was asked to be."""
    for wanted in (entry.before, entry.desired):
        target = vnic_from_json(wanted) if wanted is not None else None
        if (now is None and target is None) or (now and target and now.same_as(target)):
            return True
    return False
