"""What the store adds to a VM's vNICs as libvirt has them: a change interrupted and not yet
recovered (`pending_operation`), an uncertain state (`needs_attention`), a change made outside
plugboard (`drift`, against how plugboard last left the vNIC), and whether a running card's
tap is on its network (`connected`). The vNICs themselves always come from libvirt."""

from __future__ import annotations

from typing import Any

from plugboard.engine import journal
from plugboard.engine.vm_state import VmState, VnicState
from plugboard.store import Store
from plugboard.vnic.drift import describe
from plugboard.vnic.model import vnic_from_json, vnic_to_json
from plugboard.vnic.xml import interface_for

ADDED = "added outside plugboard"


def annotate(store: Store, host: str, state: VmState, notes: journal.VmNotes) -> None:
    """Fill in each vNIC's notes; vNICs seen for the first time get their baseline."""
    first_sight: dict[str, dict[str, Any] | None] = {}
    known_vm = bool(notes.notes)
    for entry in notes.unfinished:  # a card between two steps may be in no XML at all
        shown = entry.before or entry.desired
        if entry.vnic not in state.vnics and shown is not None:
            as_was = vnic_from_json(shown)
            state.vnics[entry.vnic] = VnicState(as_was, interface_for(as_was))
    for name, vnic in state.vnics.items():
        pending = notes.pending(name)
        if pending is not None:
            vnic.pending_operation = f"{pending.kind} {pending.id}"
        if (attention := notes.attention.get(name)) is not None:
            vnic.needs_attention = attention.detail or "its state is uncertain"
        note = notes.notes.get(name)
        if note is None and pending is None:
            first_sight[name] = None if known_vm else vnic_to_json(vnic.vnic)
            vnic.drift = ADDED if known_vm else None
        elif note is not None and pending is None:
            baseline = note.baseline
            drift = describe(vnic_from_json(baseline), vnic.vnic) if baseline else None
            vnic.drift = ADDED if baseline is None else drift
        if state.running and vnic.vnic.plugged and vnic.vnic.source is not None:
            vnic.disconnected = note.disconnected if note is not None else None
            vnic.connected = vnic.disconnected is None
    if first_sight:
        journal.add_baselines(store, host, state.dom.uuid, first_sight)
