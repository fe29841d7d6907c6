"""Reconcile: what plugboard reports follows what the VMs have, whatever happens to them.

A subscriber of every host's event feed (plugboard.hosts.feed):
- a host connects (at start, after libvirtd came back): interrupted changes are recovered;
- a card the guest released after the hot-unplug timeout becomes an unplugged vNIC, keeping
  its slot, MAC and source ("the guest released nic1 after the timeout");
- a network stops: its running taps are off their bridge (`connected: false`); it starts
  again: each tap is put back (libvirt does not), and each vNIC's outcome is in the audit log;
- a change made outside plugboard (virsh, another tool) is drift: shown on the vNIC and
  written to the audit log once, never overwritten;
- a periodic full read (`tick`) does all this for events that were missed.
Everything is read from libvirt, with the VM's lock held; changes go through the executor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from plugboard.engine import audit, journal
from plugboard.engine.executor import execute
from plugboard.engine.locks import holding
from plugboard.engine.recovery import recover_vm
from plugboard.engine.sources import ensure_blackhole
from plugboard.engine.steps import Reconnect, Step, StepContext, UnplugConfig, WriteRecords
from plugboard.engine.vm_state import VmState, read_vm
from plugboard.engine.vnic_notes import annotate
from plugboard.errors import HostUnreachable, NotFound, PlugboardError
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.model import HostEvent
from plugboard.netxml.interface import Interface
from plugboard.store import Store
from plugboard.vnic.metadata import record_for, records_xml
from plugboard.vnic.model import vnic_from_json, vnic_to_json
from plugboard.vnic.xml import interface_for, interface_of, mac_of

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, store: Store, hotunplug_timeout: float = 30.0) -> None:
        self.store = store
        self.timeout = hotunplug_timeout

    def __call__(self, event: HostEvent, lv: Libvirt) -> None:
        try:
            self._on(event, lv)
        except HostUnreachable:
            log.info("host %s went away while reconciling %s", event.host, event)
        except NotFound as err:  # gone meanwhile (a VM undefined, say): nothing to reconcile
            log.debug("reconcile %s: %s", event, err.detail)

    def _on(self, event: HostEvent, lv: Libvirt) -> None:
        what = (event.kind, event.what)
        if what == ("host", "connected"):
            self.recover(lv)
            self.everything(lv)
        elif what == ("host", "tick"):
            self.everything(lv)
        elif what == ("network", "started"):
            self.network_started(lv, event.name)
        elif what == ("network", "stopped"):
            self.network_stopped(lv, event.name)
        elif event.kind == "domain" and event.what.startswith("device-"):
            self.vm(lv, lv.domain(event.name))
        elif what == ("domain", "undefined") and event.uuid:
            journal.forget_vm(self.store, event.host, event.uuid)

    # --- recovery and the full read ------------------------------------------------------------
    def recover(self, lv: Libvirt) -> None:
        """The host's VMs with interrupted changes (any service process's)."""
        for uuid, name in journal.unfinished_vms(self.store, lv.host):
            try:
                dom = lv.domain(name)
            except NotFound:
                self._gone(lv.host, uuid, name)
                continue
            self.vm(lv, dom)

    def _gone(self, host: str, uuid: str, name: str) -> None:
        notes = journal.vm_notes(self.store, host, uuid)
        for entry in notes.unfinished:
            journal.finish(self.store, entry, journal.ROLLED_BACK, detail="the VM is gone")

    def everything(self, lv: Libvirt) -> None:
        for dom in lv.domains():
            try:
                self.vm(lv, dom)
            except NotFound:
                continue  # undefined meanwhile

    def vm(self, lv: Libvirt, dom: LibvirtDomain) -> None:
        """One VM, with its lock held: recovery, late hot-unplugs, drift."""
        with holding(self.store, lv.host, dom.uuid):
            notes = journal.vm_notes(self.store, lv.host, dom.uuid)
            if notes.unfinished or notes.attention:
                recover_vm(self.store, lv, dom, notes, self.timeout)
                notes = journal.vm_notes(self.store, lv.host, dom.uuid)
            state = read_vm(dom)
            for name, entry in notes.timed_out.items():
                if state.running and name not in state.vnics:
                    self._released_late(lv, state, entry)
                    state = read_vm(dom)
            self._drift(lv.host, state, notes)

    # --- a late hot-unplug -------------------------------------------------------------------
    def _released_late(self, lv: Libvirt, state: VmState, timed_out: journal.Entry) -> None:
        """The guest let the card go after the timeout: the vNIC becomes unplugged, keeping
        its slot, MAC and source, and the definition agrees."""
        assert timed_out.before is not None
        before = vnic_from_json(timed_out.before)
        defined = _defined_card(state.dom, before.mac) if state.persistent else None
        card = interface_for(before, defined)
        desired = before.with_(plugged=False)
        records = {k: v for k, v in state.records.items() if k != before.name}
        if (record := record_for(desired, interface_for(desired, card))) is not None:
            records[before.name] = record
        steps: list[Step] = []
        if defined is not None:
            steps.append(UnplugConfig(card.format()))
        old, new = records_xml(state.records), records_xml(records)
        steps.append(WriteRecords(old, new, state.persistent))
        entry = journal.Entry.new(
            lv.host,
            state.dom.uuid,
            state.dom.name,
            before.name,
            "late-unplug",
            before=timed_out.before,
            desired=vnic_to_json(desired),
            steps=[],
        )
        ctx = StepContext(lv, state.dom, state.persistent, self.timeout)
        execute(self.store, ctx, entry, steps)
        journal.finish(self.store, timed_out, journal.CLEARED, detail="released after the timeout")
        detail = f"the guest released {before.name} after the timeout; it is unplugged"
        self._note(lv.host, state.dom.name, before.name, "unplugged", detail)

    # --- drift -------------------------------------------------------------------------------
    def _drift(self, host: str, state: VmState, notes: journal.VmNotes) -> None:
        """Changes made outside plugboard go into the audit log, once each."""
        annotate(self.store, host, state, notes)
        for name, vnic in state.vnics.items():
            note = notes.notes.get(name)
            if vnic.drift and (note is None or note.drift != vnic.drift):
                self._note(host, state.dom.name, name, "drift", f"{name}: {vnic.drift}")
                journal.set_note(self.store, host, state.dom.uuid, name, drift=vnic.drift)
        for name in set(notes.notes) - set(state.vnics):
            if notes.pending(name) is None and name not in notes.timed_out:
                where = "the running VM" if state.running else "the VM"
                detail = f"{name}: removed from {where} outside plugboard"
                self._note(host, state.dom.name, name, "drift", detail)
                journal.forget_vnic(self.store, host, state.dom.uuid, name)

    # --- networks ----------------------------------------------------------------------------
    def network_stopped(self, lv: Libvirt, network: str) -> None:
        for dom, _state, names in self._taps_on(lv, network):
            for name in names:
                why = f"network {network} stopped"
                journal.set_note(self.store, lv.host, dom.uuid, name, disconnected=why)

    def network_started(self, lv: Libvirt, network: str) -> None:
        """Put every running tap wired to `network` back on its bridge (libvirt does not)."""
        if any(True for _ in self._taps_on(lv, network)):
            ensure_blackhole(lv)
        for dom, _state, names in self._taps_on(lv, network):
            with holding(self.store, lv.host, dom.uuid):
                state = read_vm(dom)
                for name in names:
                    self._reconnect(lv, state, name, network)

    def _reconnect(self, lv: Libvirt, state: VmState, name: str, network: str) -> None:
        vnic = state.vnics.get(name)
        if vnic is None or not vnic.vnic.plugged:
            return
        entry = journal.Entry.new(
            lv.host, state.dom.uuid, state.dom.name, name, "reconnect",
            before=vnic_to_json(vnic.vnic), desired=vnic_to_json(vnic.vnic), steps=[],
        )  # fmt: skip
        card = interface_for(vnic.vnic, vnic.iface).format()
        ctx = StepContext(lv, state.dom, state.persistent, self.timeout)
        try:
            execute(self.store, ctx, entry, [Reconnect(card)])
        except HostUnreachable:
            raise
        except PlugboardError as err:
            why = f"its tap could not be put back on network {network}: {err.detail}"
            journal.set_note(self.store, lv.host, state.dom.uuid, name, disconnected=why)
            self._note(lv.host, state.dom.name, name, "NOT_RECONNECTED", f"{name}: {why}")
            return
        journal.set_note(self.store, lv.host, state.dom.uuid, name, disconnected=None)
        self._note(lv.host, state.dom.name, name, "reconnected",
                   f"{name}: its tap is back on network {network}, which restarted")  # fmt: skip

    def _taps_on(
        self, lv: Libvirt, network: str
    ) -> Iterator[tuple[LibvirtDomain, VmState, list[str]]]:
        """(domain, state, vNIC names) of running VMs with a tap wired to `network`."""
        for dom in lv.domains():
            if not dom.is_active():
                continue
            state = read_vm(dom, running=True)
            names = [
                name
                for name, v in state.vnics.items()
                if v.vnic.plugged
                and v.vnic.source is not None
                and v.vnic.source.type == "network"
                and v.vnic.source.network == network
                and v.vnic.source.attachment == "tap"
            ]
            if names:
                yield dom, state, names

    def _note(self, host: str, vm: str, vnic: str, result: str, detail: str) -> None:
        audit.note(
            self.store,
            target=f"hosts/{host}/vms/{vm}/nics/{vnic}",
            action="reconcile",
            result=result,
            detail=detail,
        )


def _defined_card(dom: LibvirtDomain, mac: str) -> Interface | None:
    for element in dom.tree(inactive=True).iterfind("./devices/interface"):
        iface = interface_of(element)
        if mac_of(iface) == mac:
            return iface
    return None
