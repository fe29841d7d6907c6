"""The planner: what to do to go from a vNIC as it is to the vNIC as asked, on a VM that runs
or not. Pure: no libvirt here; the plan can be shown before anything happens (dry run).

Rules (DESIGN.md, "The vNIC model", after oVirt's network-linking feature):
- a stopped VM: only its definition changes (config-only);
- unplugged -> plugged: hot-plug, with the vNIC's link state, back into the PCI slot it keeps
  (another free one when that is taken); plugged -> unplugged: hot-unplug;
- a hot-plug needs a free slot (plugboard.vnic.slots): NO_FREE_PCI_SLOT before anything
  happens when the running VM has none;
- plugged -> plugged: a new MAC or model, a move between kinds of attachment libvirt cannot
  make live (tap <-> macvtap, Linux bridge <-> Open vSwitch), or a macvtap to another device
  or mode, is unplug then plug into the same PCI slot; any other change (network, bridge,
  port group, VLAN, link state, QoS, network filter) is one live update, the card
  stays; a new profile name alone changes plugboard's record;
- unplugged -> unplugged: only plugboard's record changes;
- a plugged vNIC of a running VM cannot be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from plugboard.vnic.model import Vnic
from plugboard.vnic.slots import Slots, slot_address

ActionKind = Literal["live-update", "unplug", "plug", "config-only", "reconnect", "none"]
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)


class PlanError(ValueError):
    """The change is not allowed as asked; `code` says which rule (stable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    reason: str
    keeps_pci_address: bool = True
    pci_address: str | None = None  # the slot a plug puts the card into (None: as it is)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]

    @property
    def kinds(self) -> tuple[ActionKind, ...]:
        return tuple(a.kind for a in self.actions)

    @property
    def keeps_pci_address(self) -> bool:
        return all(a.keeps_pci_address for a in self.actions)


def _one(kind: ActionKind, reason: str, keeps_pci: bool = True) -> Plan:
    return Plan((Action(kind, reason, keeps_pci),))


def plan(  # noqa: PLR0911
    current: Vnic | None,
    desired: Vnic | None,
    vm_running: bool,
    disconnected: str | None = None,
    slots: Slots | None = None,
) -> Plan:
    """The actions that take `current` to `desired` (None: the vNIC does not exist).
    `disconnected`: why a running card's tap is off its network, if it is; `slots`: the
    running VM's PCI slots (None: not known, libvirt picks one)."""
    if desired is None:
        return (
            _remove(current, vm_running) if current is not None else _one("none", "nothing to do")
        )
    if current is None:
        return _add(desired, vm_running, slots)
    if current == desired:
        if disconnected and vm_running and current.plugged and current.source is not None:
            return _one(
                "reconnect",
                f"its tap is off its network ({disconnected}): plug it back in, live",
            )
        return _one("none", "the vNIC is already as asked")
    if not vm_running:
        return _one("config-only", "the VM is not running: its definition changes")
    if not current.plugged and not desired.plugged:
        return _one("config-only", "the vNIC stays unplugged: only plugboard's record changes")
    if not current.plugged:
        return _replug(desired, slots)
    if not desired.plugged:
        return _one("unplug", "hot-unplug the card")
    return _plugged_to_plugged(current, desired)


def refresh(current: Vnic, why: str) -> Plan:
    """A plugged card of a running VM given its network's settings again (its port group
    changed): libvirt gives an Open vSwitch port its group's VLAN only when the card is
    plugged, and a tap its group's QoS at a live update."""
    if _attachment(current) == "ovs":
        return Plan(
            (
                Action("unplug", f"{why}: an Open vSwitch port gets its VLAN when plugged: unplug"),
                Action("plug", "plug back into the same PCI slot"),
            )
        )
    return _one("live-update", f"{why}: its QoS changes live; the card stays in its slot")


def _remove(current: Vnic, vm_running: bool) -> Plan:
    if vm_running and current.plugged:
        raise PlanError(
            "CANNOT_REMOVE_ACTIVE_DEVICE",
            f"vNIC {current.name} is plugged into the running VM; unplug it first or stop the VM",
        )
    return _one("config-only", "remove the vNIC from the VM's definition")


def _add(desired: Vnic, vm_running: bool, slots: Slots | None) -> Plan:
    if not (vm_running and desired.plugged):
        return _one("config-only", "add the vNIC to the VM's definition")
    link = "linked" if desired.linked else "unlinked"
    if slots is None:
        return _one("plug", f"hot-plug a new card, {link}", keeps_pci=False)
    bus = _free_slot(desired, slots)
    where = slot_address(bus)
    if bus in slots.kept:
        where += f" (kept for unplugged {slots.kept[bus]}, which then needs another)"
    reason = f"hot-plug a new card, {link}, into free PCI slot {where}"
    return Plan((Action("plug", reason, False, slot_address(bus)),))


def _replug(desired: Vnic, slots: Slots | None) -> Plan:
    """An unplugged vNIC goes back into the slot it keeps, or into a free one if that is
    taken (or it never had one)."""
    link = "linked" if desired.linked else "unlinked"
    if slots is None:
        return _one("plug", f"hot-plug the card, {link}", keeps_pci=False)
    kept = next((bus for bus, name in slots.kept.items() if name == desired.name), None)
    if kept is not None and kept in slots.free:
        reason = f"hot-plug the card back into its PCI slot {slot_address(kept)}, {link}"
        return Plan((Action("plug", reason, True, slot_address(kept)),))
    bus = _free_slot(desired, slots)
    if kept is None:
        why = "it has no PCI slot yet"
    elif kept in slots.used:
        why = f"its PCI slot {slot_address(kept)} is now used by {slots.used[kept]}"
    else:
        why = f"its PCI slot {slot_address(kept)} takes no hot-plugged card"
    reason = f"{why}: hot-plug the card into free PCI slot {slot_address(bus)}, {link}"
    return Plan((Action("plug", reason, False, slot_address(bus)),))


def _free_slot(desired: Vnic, slots: Slots) -> int:
    bus = slots.for_new()
    if bus is None:
        raise PlanError(
            "NO_FREE_PCI_SLOT",
            f"the running VM has no free PCI slot for {desired.name}: {slots.describe()}. A "
            "running VM cannot get more: unplug a card first, or give the VM more (PATCH its "
            "hotplug_slots, or `plugboard vm-set VM --hotplug-slots N`) and restart it",
        )
    return bus


def _plugged_to_plugged(current: Vnic, desired: Vnic) -> Plan:
    why = []
    if current.mac != desired.mac:
        why.append(f"the MAC changes ({current.mac} -> {desired.mac})")
    if current.model != desired.model:
        why.append(f"the model changes ({current.model} -> {desired.model})")
    old, new = _attachment(current), _attachment(desired)
    if old != new:
        why.append(f"libvirt cannot move a live card from {KINDS[old]} to {KINDS[new]}")
    elif old == "macvtap" and current.source != desired.source:
        why.append("libvirt cannot re-wire a live macvtap")
    elif (
        old == "ovs"
        and _network_port(current) != _network_port(desired)
        and (_network_port(current) is not None and _network_port(desired) is not None)
    ):
        # libvirt 9.0 refuses a live move to another Open vSwitch network, and moves a card
        # to another port group of one without the group's VLAN tags
        why.append("libvirt cannot move a live card between Open vSwitch networks or port groups")
    if why:
        reason = "; ".join(why)
        return Plan(
            (
                Action("unplug", f"{reason}: unplug", True),
                Action("plug", "plug back into the same PCI slot", True),
            )
        )
    changed = [
        name
        for name, a, b in (
            ("source", current.source, desired.source),
            ("link", current.linked, desired.linked),
            ("QoS", current.bandwidth, desired.bandwidth),
            ("VLAN", current.vlan, desired.vlan),
            ("network filter", current.filter, desired.filter),
        )
        if a != b
    ]
    if not changed:  # the profile's name alone: the card is as it was
        return _one("config-only", "only the vNIC's profile changes: plugboard's record")
    return _one("live-update", f"{', '.join(changed)} change live; the card stays in its slot")


def _network_port(vnic: Vnic) -> tuple[str | None, str | None] | None:
    """The libvirt network and port group of a card wired to a network (None: not)."""
    src = vnic.source
    return (src.network, src.portgroup) if src is not None and src.type == "network" else None


KINDS = {
    "tap": "a Linux bridge",
    "ovs": "Open vSwitch",
    "macvtap": "a macvtap",
    "hostdev": "a host device",
}


def _attachment(vnic: Vnic) -> str:
    # No network: a tap on plugboard's black-hole bridge.
    return vnic.source.attachment if vnic.source is not None else "tap"
