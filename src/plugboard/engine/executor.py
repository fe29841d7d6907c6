"""Carrying out a planned vNIC change: the one executor of every change.

A planned change becomes steps (plugboard.engine.steps). The operation is written to the
journal before the first step, each step is marked as it completes, and the end is marked
with its outcome. On any failure (an exception of any kind, the guest's hot-unplug timeout,
verification finding the vNIC not as asked) the steps done are undone in reverse, each only
if libvirt shows its effect, so the live XML, the persistent XML and the metadata are as they
were; undos that fail are reported in `rollback_errors` and the vNIC is marked
`needs_attention`. When the host goes away mid-change, nothing can be undone: the operation
stays in the journal, unfinished, and recovery finishes it or rolls it back once the host is
back (plugboard.engine.recovery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lxml import etree

from plugboard.engine import journal
from plugboard.engine.journal import Entry
from plugboard.engine.steps import (
    Define,
    Mark,
    Plug,
    PlugConfig,
    Reconnect,
    Step,
    StepContext,
    Unplug,
    UnplugConfig,
    UpdateCard,
    WriteRecords,
)
from plugboard.engine.vm_state import VmState, VnicState, read_vm
from plugboard.errors import HostUnreachable, HotunplugTimeout, PlugboardError, UpdateVnicFailed
from plugboard.hosts.errors import is_refusal
from plugboard.store import Store
from plugboard.vnic import Plan, Vnic
from plugboard.vnic.metadata import PendingMark, put_records, record_for, records_xml
from plugboard.vnic.model import vnic_from_json, vnic_to_json
from plugboard.vnic.xml import in_slot, interface_for, interface_of, vnic_name

log = logging.getLogger(__name__)
# Who hears each step boundary ("before:unplug", "after:plug", ...): nobody, unless a harness
# injects a watcher (the fault-injection tests kill the service at a chosen boundary).
_watchers: list[Callable[[str], None]] = []


def watch_steps(watcher: Callable[[str], None]) -> None:
    _watchers.append(watcher)


def unwatch_steps(watcher: Callable[[str], None]) -> None:
    _watchers.remove(watcher)


def _boundary(where: str) -> None:
    for watcher in _watchers:
        watcher(where)


# --- planning the steps ----------------------------------------------------------------------
def steps_for(
    state: VmState, current: VnicState | None, desired: Vnic | None, plan: Plan, op: str
) -> list[Step]:
    """The steps that carry `plan` out on the VM as it is (`state`)."""
    if plan.kinds == ("none",):
        return []
    if not state.running:
        return [_define(state, current, desired)]
    return _running(state, current, desired, plan, op)


def _running(
    state: VmState, current: VnicState | None, desired: Vnic | None, plan: Plan, op: str
) -> list[Step]:
    kinds, config = plan.kinds, state.persistent
    base = current.iface if current is not None else None
    name = (desired or current.vnic).name  # type: ignore[union-attr]
    old_meta = records_xml(state.records)
    records = {k: v for k, v in state.records.items() if k != name}
    if desired is not None:
        iface = interface_for(desired, base) if not desired.plugged else None
        if (record := record_for(desired, iface)) is not None:
            records[name] = record
    new_meta = records_xml(records)
    if kinds == ("config-only",):
        return [WriteRecords(old_meta, new_meta, config)] if new_meta != old_meta else []
    if kinds == ("reconnect",):
        assert current is not None
        return [Reconnect(interface_for(current.vnic, base).format())]
    if kinds == ("live-update",):
        assert current is not None and desired is not None
        old, new = interface_for(current.vnic, base), interface_for(desired, base)
        update = UpdateCard(old.format(), new.format(), name, vnic_to_json(desired), config)
        extra = [WriteRecords(old_meta, new_meta, config)] if new_meta != old_meta else []
        return [update, *extra]
    # Several steps: the record names the change under way, with the card as it was.
    before = current.iface if current is not None and current.vnic.plugged else None
    marked = records_xml(state.records, PendingMark(op, name, before))
    steps: list[Step] = [Mark(old_meta, marked, config)]
    if "unplug" in kinds:
        assert current is not None
        card = interface_for(current.vnic, base).format()
        steps.append(Unplug(card, name))
        if config:
            steps.append(UnplugConfig(card))
    if "plug" in kinds:
        assert desired is not None
        slot = plan.actions[-1].pci_address
        iface = interface_for(desired, base)
        card = (in_slot(iface, slot) if slot else iface).format()
        steps.append(Plug(card, name, any_slot=kinds == ("plug",)))
        if config:
            steps.append(PlugConfig(desired.mac))
    steps.append(WriteRecords(marked, new_meta, config))
    return steps


def _define(state: VmState, current: VnicState | None, desired: Vnic | None) -> Step:
    """A stopped VM: its definition with the vNIC changed (devices and metadata), at once."""
    root = etree.fromstring(etree.tostring(state.root))
    devices = root.find("devices")
    assert devices is not None
    name = (desired or current.vnic).name  # type: ignore[union-attr]
    old_device = None
    if current is not None and current.vnic.plugged:
        old_device = next(
            e for e in devices.iterfind("interface") if vnic_name(interface_of(e)) == name
        )
    new_iface = interface_for(desired, current.iface if current else None) if desired else None
    if new_iface is not None and desired is not None and desired.plugged:
        new_device = etree.fromstring(new_iface.format())
        if old_device is not None:
            devices.replace(old_device, new_device)
        else:
            _insert_interface(devices, new_device)
    elif old_device is not None:
        devices.remove(old_device)
    records = {k: v for k, v in state.records.items() if k != name}
    if desired is not None and (record := record_for(desired, new_iface)) is not None:
        records[name] = record
    put_records(root, records)
    return Define(
        etree.tostring(state.root, encoding="unicode"),
        etree.tostring(root, encoding="unicode"),
        name,
        vnic_to_json(desired) if desired is not None else None,
    )


def _insert_interface(devices: etree._Element, iface: etree._Element) -> None:
    existing = devices.findall("interface")
    if existing:
        existing[-1].addnext(iface)
    else:
        devices.append(iface)


# --- carrying them out -----------------------------------------------------------------------
def execute(
    store: Store,
    ctx: StepContext,
    entry: Entry,
    steps: list[Step],
    *,
    reserve: bool = False,
) -> VnicState | None:
    """Journal `entry`, carry out `steps`, verify, and mark the end; undo on any failure.
    `reserve`: the desired MAC is new and must be reserved in the store."""
    entry.steps = [step.to_json() for step in steps]
    journal.begin(store, entry, reserve=_new_mac(entry) if reserve else None)
    try:
        run_steps(store, ctx, entry, steps)
        now = verify(ctx, entry)
    except HostUnreachable:
        _interrupted(store, entry)
        raise
    except BaseException as err:
        failures = rollback(ctx, entry, steps)
        _finish_failed(store, entry, err, failures)
        if isinstance(err, HotunplugTimeout):  # where the card is now
            now = read_vm(ctx.dom).vnics.get(entry.vnic)
            err.extra["vnic"] = now.vnic if now is not None else None
        raise _reported(err, failures) from None
    finish_done(store, entry)
    return now


def run_steps(store: Store, ctx: StepContext, entry: Entry, steps: list[Step]) -> None:
    """The steps not done yet, each marked in the journal when done (the last one is marked
    with the operation's end)."""
    for index in range(entry.done, len(steps)):
        step = steps[index]
        _boundary(f"before:{step.name}")
        step.do(ctx)
        entry.done = index + 1
        if entry.done < len(steps):
            journal.advance(store, entry)
        _boundary(f"after:{step.name}")


def verify(ctx: StepContext, entry: Entry) -> VnicState | None:
    """Read libvirt again: the vNIC must be as asked (gone, when it was removed)."""
    now = read_vm(ctx.dom).vnics.get(entry.vnic)
    if entry.desired is None:
        if now is not None:
            raise UpdateVnicFailed(f"vNIC {entry.vnic} is still there after it was removed")
        return None
    if now is None or not now.vnic.same_as(vnic_from_json(entry.desired)):
        raise UpdateVnicFailed(
            f"libvirt did not apply the change to vNIC {entry.vnic} as asked",
            found=now.vnic if now else None,
        )
    return now  # without ips: a re-wired guest has not asked its new network yet


def rollback(ctx: StepContext, entry: Entry, steps: list[Step]) -> list[str]:
    """Undo, in reverse, the steps done and the one that was under way, each only if libvirt
    shows its effect; the undos that failed, in words (each is logged too)."""
    failures = []
    for step in reversed(steps[: entry.done + 1]):
        try:
            if step.done(ctx):
                step.undo(ctx)
        except PlugboardError as err:
            log.error("%s: undo of '%s' failed: %s", ctx.dom.name, step.name, err.detail)
            failures.append(f"undo {step.name}: {err.detail}")
    entry.done = 0
    return failures


def _new_mac(entry: Entry) -> str | None:
    new = entry.desired["mac"] if entry.desired else None
    old = entry.before["mac"] if entry.before else None
    return new if new != old else None


def _old_mac(entry: Entry) -> str | None:
    new = entry.desired["mac"] if entry.desired else None
    old = entry.before["mac"] if entry.before else None
    return old if new != old else None


def finish_done(store: Store, entry: Entry, detail: str | None = None) -> None:
    release = [mac] if (mac := _old_mac(entry)) else []
    journal.finish(
        store, entry, journal.DONE, detail=detail, baseline=entry.desired, release=release
    )


def finish_rolled_back(store: Store, entry: Entry, state: str, detail: str) -> None:
    release = [mac] if (mac := _new_mac(entry)) else []
    journal.finish(store, entry, state, detail=detail, release=release)


def _finish_failed(store: Store, entry: Entry, err: BaseException, failures: list[str]) -> None:
    detail = getattr(err, "detail", None) or f"{type(err).__name__}: {err}"
    if failures:
        finish_rolled_back(store, entry, journal.ATTENTION, "; ".join([detail, *failures]))
    elif isinstance(err, HotunplugTimeout):
        finish_rolled_back(store, entry, journal.TIMED_OUT, detail)
    else:
        finish_rolled_back(store, entry, journal.ROLLED_BACK, detail)


def _interrupted(store: Store, entry: Entry) -> None:
    """The host went away: the operation stays unfinished in the journal, for recovery."""
    log.warning("%s: vNIC %s: the host went away after %d of %d steps; recovery finishes it",
                entry.vm_name, entry.vnic, entry.done, len(entry.steps))  # fmt: skip
    try:
        journal.advance(store, entry)
    except Exception:  # the journal marks at least the steps before the last one
        log.exception("the journal of %s could not be brought up to date", entry.id)


def _reported(err: BaseException, failures: list[str]) -> BaseException:
    """What the caller is told: libvirt's refusal of a step as UPDATE_VNIC_FAILED, with the
    undos that failed (and which mark the vNIC needs_attention)."""
    if isinstance(err, PlugboardError):
        if failures:
            err.extra["rollback_errors"] = failures
        if isinstance(err, UpdateVnicFailed | HotunplugTimeout) or not is_refusal(err):
            err.extra.setdefault("rollback_errors", failures)
            return err
        return UpdateVnicFailed(
            err.libvirt_message or err.detail,
            rollback_errors=failures,
            libvirt_code=err.libvirt_code,
        )
    return err
