"""The planner: what to do to go from a vNIC as it is to the vNIC as asked, on a VM that runs
or not. Pure: no libvirt here; the plan can be shown before anything happens (dry run).

Rules (DESIGN.md, "The vNIC model", after oVirt's network-linking feature):
- a stopped VM: only its definition changes (config-only);
- unplugged -> plugged: hot-plug, with the vNIC's link state; plugged -> unplugged: hot-unplug;
- plugged -> plugged: a new MAC or model, a move between kinds of attachment libvirt cannot
  make live (tap <-> macvtap, Linux bridge <-> Open vSwitch), or a macvtap to another device
  or mode, is unplug then plug into the same PCI slot; any other change (network, bridge,
  port group, VLAN, link state, QoS) is one live update, the card stays;
- unplugged -> unplugged: only plugboard's record changes;
- a plugged vNIC of a running VM cannot be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from plugboard.vnic.model import Vnic

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
    current: Vnic | None, desired: Vnic | None, vm_running: bool, disconnected: str | None = None
) -> Plan:
    """The actions that take `current` to `desired` (None: the vNIC does not exist).
    `disconnected`: why a running card's tap is off its network, if it is."""
    if desired is None:
        return (
            _remove(current, vm_running) if current is not None else _one("none", "nothing to do")
        )
    if current is None:
        return _add(desired, vm_running)
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
        link = "linked" if desired.linked else "unlinked"
        return _one("plug", f"hot-plug the card, {link}", keeps_pci=False)
    if not desired.plugged:
        return _one("unplug", "hot-unplug the card")
    return _plugged_to_plugged(current, desired)


def _remove(current: Vnic, vm_running: bool) -> Plan:
    if vm_running and current.plugged:
        raise PlanError(
            "CANNOT_REMOVE_ACTIVE_DEVICE",
            f"vNIC {current.name} is plugged into the running VM; unplug it first or stop the VM",
        )
    return _one("config-only", "remove the vNIC from the VM's definition")


def _add(desired: Vnic, vm_running: bool) -> Plan:
    if vm_running and desired.plugged:
        link = "linked" if desired.linked else "unlinked"
        return _one("plug", f"hot-plug a new card, {link}", keeps_pci=False)
    return _one("config-only", "add the vNIC to the VM's definition")


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
        )
        if a != b
    ]
    return _one("live-update", f"{', '.join(changed)} change live; the card stays in its slot")


KINDS = {
    "tap": "a Linux bridge",
    "ovs": "Open vSwitch",
    "macvtap": "a macvtap",
    "hostdev": "a host device",
}


def _attachment(vnic: Vnic) -> str:
    # No network: a tap on plugboard's black-hole bridge.
    return vnic.source.attachment if vnic.source is not None else "tap"
