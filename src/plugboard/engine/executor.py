"""Carrying out a planned vNIC change, with undo.

Apply is the only code that changes a VM's vNICs. It keeps the card's XML as it was before
each step and, when a step fails, undoes the steps done so far in reverse order, so a failed
change leaves the live XML, the persistent XML and the metadata as they were. Verify reads
libvirt again: the vNIC must be as asked, else it is put back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from plugboard.engine.sources import ensure_blackhole
from plugboard.engine.vm_state import VmState, VnicState, read_vm
from plugboard.errors import HostUnreachable, HotunplugTimeout, PlugboardError, UpdateVnicFailed
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.errors import is_refusal
from plugboard.netxml.interface import Interface
from plugboard.vnic import Plan, Vnic, plan
from plugboard.vnic.metadata import NS, NS_KEY, VnicRecord, put_records, record_for, records_xml
from plugboard.vnic.xml import (
    interface_for,
    interface_of,
    mac_of,
    pci_address,
    to_string,
    vnic_from,
    vnic_name,
    without_address,
)

log = logging.getLogger(__name__)
UNPLUG_POLL = 0.02


class Steps:
    """Steps done so far, each with its undo; `rollback()` undoes them in reverse."""

    def __init__(self, vm: str) -> None:
        self.vm = vm
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def do(self, what: str, step: Callable[[], object], undo: Callable[[], object]) -> None:
        step()
        self._undo.append((what, undo))

    def rollback(self) -> list[str]:
        """Undo every step; the undos that failed, in words (each is logged too)."""
        failures = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except PlugboardError as err:
                log.error("%s: rollback of '%s' failed: %s", self.vm, what, err.detail)
                failures.append(f"undo {what}: {err.detail}")
        self._undo.clear()
        return failures


@dataclass
class Outcome:
    """What carrying out a change did besides the change itself."""

    notes: list[str] = field(default_factory=list)


class Applier:
    """Carries one planned change out on a VM (the VM's lock is held)."""

    def __init__(self, state: VmState, hotunplug_timeout: float) -> None:
        self.state = state
        self.dom = state.dom
        self.steps = Steps(state.dom.name)
        self.hotunplug_timeout = hotunplug_timeout
        self.outcome = Outcome()

    # metadata ------------------------------------------------------------------------------
    def set_record(self, name: str, record: VnicRecord | None) -> None:
        old = dict(self.state.records)
        new = dict(old)
        new.pop(name, None)
        if record is not None:
            new[name] = record
        if records_xml(new) == records_xml(old):
            return
        self.steps.do(
            f"metadata of {name}",
            lambda: self._write_records(new),
            lambda: self._write_records(old),
        )
        self.state.records = new

    def _write_records(self, records: dict[str, VnicRecord]) -> None:
        self.dom.set_metadata(records_xml(records), NS_KEY, NS, config=self.state.persistent)

    # devices of a running VM ---------------------------------------------------------------
    def update(self, old: Interface, new: Interface) -> None:
        config = self.state.persistent
        self.steps.do(
            "live update",
            lambda: self.dom.update_device(to_string(new), live=True, config=config),
            lambda: self.dom.update_device(to_string(old), live=True, config=config),
        )

    def unplug(self, iface: Interface, name: str) -> None:
        self.steps.do(
            f"unplug {name}", lambda: self._detach(iface, name), lambda: self._attach(iface)
        )

    def plug(self, iface: Interface, name: str, any_slot: bool = False) -> Interface:
        """Hot-plug; with `any_slot`, a card whose old slot was taken meanwhile goes into
        another free one."""
        try:
            plugged = self._attach(iface)
        except HostUnreachable:
            raise
        except PlugboardError as err:
            if not any_slot or iface.address is None:
                raise
            log.info("%s: %s did not go back into its slot (%s)", self.dom.name, name, err.detail)
            plugged = self._attach(without_address(iface))
            self.outcome.notes.append("its old PCI slot was taken; it went into another one")
        self.steps.do(f"plug {name}", lambda: None, lambda: self._detach(plugged, name))
        return plugged

    def _attach(self, iface: Interface) -> Interface:
        """Hot-plug the card, then write it into the definition with the PCI address it got,
        so the running VM and its next start agree."""
        self.dom.attach_device(to_string(iface), live=True, config=False)
        plugged = _find_live(self.dom, iface)
        if self.state.persistent:
            try:
                self.dom.attach_device(to_string(plugged), live=False, config=True)
            except PlugboardError as err:
                self._take_back(plugged, err)
                raise
        return plugged

    def _take_back(self, plugged: Interface, why: PlugboardError) -> None:
        """A card hot-plugged but refused by the definition comes out again."""
        try:
            self._detach_live(plugged)
        except PlugboardError as err:
            log.error(
                "%s: the card %s stays plugged although its definition refused it (%s): %s",
                self.dom.name,
                pci_address(plugged),
                why.detail,
                err.detail,
            )

    def _detach(self, iface: Interface, name: str) -> None:
        self._detach_live(iface, name)
        if self.state.persistent:
            self.dom.detach_from_definition(to_string(iface))

    def _detach_live(self, iface: Interface, name: str | None = None) -> None:
        """Ask the guest to release the card and wait until it has (or the timeout)."""
        mac = mac_of(iface)
        self.dom.detach_device(to_string(iface), live=True, config=False)
        deadline = time.monotonic() + self.hotunplug_timeout
        while _live_by_mac(self.dom, mac) is not None:
            if time.monotonic() > deadline:
                raise HotunplugTimeout(
                    f"the guest did not release vNIC {name or mac} within "
                    f"{self.hotunplug_timeout:g} s; it is still plugged (the guest may still "
                    "release it later)"
                )
            time.sleep(UNPLUG_POLL)

    # a stopped VM: one new definition -------------------------------------------------------
    def redefine(self, root: etree._Element, lv: Libvirt) -> None:
        old = etree.tostring(self.state.root, encoding="unicode")
        new = etree.tostring(root, encoding="unicode")
        self.steps.do("definition", lambda: lv.define_domain(new), lambda: lv.define_domain(old))


def _live_by_mac(dom: LibvirtDomain, mac: str) -> etree._Element | None:
    for element in dom.tree().iterfind("./devices/interface"):
        if str(element.xpath("string(mac/@address)")).lower() == mac.lower():
            return element
    return None


def _find_live(dom: LibvirtDomain, iface: Interface) -> Interface:
    found = _live_by_mac(dom, mac_of(iface))
    if found is None:
        raise UpdateVnicFailed("the card is not in the VM after hot-plug")
    live = interface_of(found)
    # As it goes into the definition: without what libvirt names at run time.
    return interface_for(vnic_from(live, None, plugged=True), live)


def apply_change(
    lv: Libvirt,
    state: VmState,
    current: VnicState | None,
    desired: Vnic | None,
    steps_plan: Plan,
    hotunplug_timeout: float,
) -> Outcome:
    """Carry out `steps_plan`; on failure undo everything and raise UPDATE_VNIC_FAILED (or
    HOTUNPLUG_TIMEOUT, or HOST_UNREACHABLE when the host went away), with the undos that
    failed in `rollback_errors`."""
    if desired is not None and desired.source is None:
        ensure_blackhole(lv)
    applier = Applier(state, hotunplug_timeout)
    name = (desired or current.vnic).name  # type: ignore[union-attr]
    try:
        if not state.running:
            _apply_definition(lv, applier, current, desired)
        else:
            _apply_running(applier, current, desired, steps_plan)
    except HotunplugTimeout as err:
        err.extra["rollback_errors"] = applier.steps.rollback()
        now = read_vm(state.dom, state.running, state.persistent).vnics.get(name)
        err.extra["vnic"] = now.vnic if now is not None else None
        raise
    except PlugboardError as err:
        failures = applier.steps.rollback()
        if not is_refusal(err) and not isinstance(err, UpdateVnicFailed):
            err.extra["rollback_errors"] = failures
            raise
        raise UpdateVnicFailed(
            err.libvirt_message or err.detail,
            rollback_errors=failures,
            libvirt_code=err.libvirt_code,
        ) from None
    return applier.outcome


def _apply_running(
    applier: Applier, current: VnicState | None, desired: Vnic | None, steps_plan: Plan
) -> None:
    kinds = steps_plan.kinds
    base = current.iface if current is not None else None
    if kinds == ("none",):
        return
    if kinds == ("config-only",):  # stays unplugged, is added unplugged, or is removed
        name = (desired or current.vnic).name  # type: ignore[union-attr]
        record = record_for(desired, interface_for(desired, base)) if desired else None
        applier.set_record(name, record)
        return
    assert desired is not None
    if kinds == ("live-update",):
        assert current is not None
        applier.update(interface_for(current.vnic, base), interface_for(desired, base))
        applier.set_record(desired.name, record_for(desired, None))
        return
    if kinds == ("unplug",):
        assert current is not None
        applier.unplug(interface_for(current.vnic, base), desired.name)
        applier.set_record(desired.name, record_for(desired, interface_for(desired, base)))
        return
    if kinds == ("plug",):
        applier.plug(interface_for(desired, base), desired.name, any_slot=True)
        applier.set_record(desired.name, record_for(desired, None))
        return
    # unplug + plug back into the same slot (new MAC, model or kind of attachment)
    assert current is not None
    applier.unplug(interface_for(current.vnic, base), desired.name)
    applier.plug(interface_for(desired, base), desired.name)
    applier.set_record(desired.name, record_for(desired, None))


def _apply_definition(
    lv: Libvirt, applier: Applier, current: VnicState | None, desired: Vnic | None
) -> None:
    """A stopped VM: edit its definition (devices and metadata) and define it once."""
    root = etree.fromstring(etree.tostring(applier.state.root))
    devices = root.find("devices")
    assert devices is not None
    name = (desired or current.vnic).name  # type: ignore[union-attr]
    old_device = None
    if current is not None and current.vnic.plugged:
        old_device = next(
            e for e in devices.iterfind("interface") if _name_of(e) == current.vnic.name
        )
    base = current.iface if current is not None else None
    new_iface = interface_for(desired, base) if desired is not None else None
    new_device = etree.fromstring(new_iface.format()) if new_iface is not None else None
    if new_device is not None and desired is not None and desired.plugged:
        if old_device is not None:
            devices.replace(old_device, new_device)
        else:
            _insert_interface(devices, new_device)
    elif old_device is not None:
        devices.remove(old_device)
    records = dict(applier.state.records)
    records.pop(name, None)
    record = record_for(desired, new_iface) if desired is not None else None
    if record is not None:
        records[name] = record
    put_records(root, records)
    applier.redefine(root, lv)


def _name_of(element: etree._Element) -> str:
    return vnic_name(interface_of(element))


def _insert_interface(devices: etree._Element, iface: etree._Element) -> None:
    existing = devices.findall("interface")
    if existing:
        existing[-1].addnext(iface)
    else:
        devices.append(iface)


def verify(state: VmState, desired: Vnic | None, name: str) -> VnicState | None:
    """Read libvirt again: the vNIC must be as asked."""
    now = read_vm(state.dom, state.running, state.persistent).vnics.get(name)
    if desired is None:
        if now is not None:
            raise UpdateVnicFailed(f"vNIC {name} is still there after it was removed")
        return None
    if now is None or not now.vnic.same_as(desired):
        raise UpdateVnicFailed(
            f"libvirt did not apply the change to vNIC {name} as asked",
            found=now.vnic if now else None,
        )
    return now  # without ips: a re-wired guest has not asked its new network yet


def verify_or_undo(
    lv: Libvirt, state: VmState, current: VnicState | None, desired: Vnic | None
) -> VnicState | None:
    """Verify; a vNIC not as asked is put back as it was (by the reverse plan)."""
    name = (desired or current.vnic).name  # type: ignore[union-attr]
    try:
        return verify(state, desired, name)
    except UpdateVnicFailed as failed:
        log.error("%s: vNIC %s is not as asked after the change; putting it back", lv.host, name)
        failed.extra["rollback_errors"] = _put_back(lv, state, current, name)
        raise


def _put_back(lv: Libvirt, state: VmState, current: VnicState | None, name: str) -> list[str]:
    back = read_vm(state.dom)
    now = back.vnics.get(name)
    if current is None or now is None:
        return []
    try:
        apply_change(lv, back, now, current.vnic, plan(now.vnic, current.vnic, back.running), 30.0)
    except (UpdateVnicFailed, HotunplugTimeout) as err:
        log.error("%s: vNIC %s could not be put back: %s", state.dom.name, name, err.detail)
        return [f"put back {name}: {err.detail}", *err.extra.get("rollback_errors", [])]
    return []
