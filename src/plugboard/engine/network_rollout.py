"""A running network's port groups changed live, and each running vNIC they concern brought to
them (`PUT .../networks/{name}?apply_to_running=true`, issue 19).

A port group carries VLAN tags and QoS for the cards wired to it (or to the network without a
group, when it is the default one). libvirt changes a running network's port groups with
virNetworkUpdate, but gives a running card its group's settings only when the card is plugged
(or, for QoS on a tap, when it is updated): so each running vNIC of a changed group is
refreshed after, one at a time, each undone alone on failure, and the answer lists each one's
outcome. oVirt marks them "out of sync" until the VM restarts instead.

Only port groups are changed live: libvirt has no live update for a network's own VLAN or
QoS, its forward mode or its addresses (those need the network restarted: ?restart=true).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from plugboard.engine import vnics
from plugboard.engine.profile_rollout import VnicOutcome
from plugboard.engine.tokens import Principal
from plugboard.engine.vm_state import read_vm
from plugboard.errors import Conflict, PlugboardError
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.connection import HostConnection
from plugboard.netxml import Network
from plugboard.store import Store
from plugboard.vnic import Vnic

log = logging.getLogger(__name__)


def changed_portgroups(old: Network, new: Network) -> dict[str, str | None]:
    """The port groups that differ: name -> the group's XML in `new` (None: removed). A
    difference elsewhere is a 409: it cannot be applied to the running network."""
    bare_old, bare_new = copy.deepcopy(old), copy.deepcopy(new)
    bare_old.portgroups, bare_new.portgroups = [], []
    if bare_old.format() != bare_new.format():
        raise Conflict(
            "apply_to_running changes a running network's port groups (their VLANs and QoS) "
            "live; this definition changes more than its port groups, which takes a restart "
            "of the network (?restart=true) or its next start (neither flag)"
        )
    before = {g.name or "": g.format() for g in old.portgroups}
    after = {g.name or "": g.format() for g in new.portgroups}
    return {
        name: after.get(name)
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


@dataclass(frozen=True)
class Card:
    """A running card to refresh, as it was read before its group changed: its VLANs and QoS
    then tell its own from those the group gave it."""

    vm: str
    vnic: Vnic


def concerned(lv: Libvirt, network: str, groups: set[str], default: str | None) -> list[Card]:
    """Each card plugged into a running VM on `network` in one of `groups` (a card without a
    group is in the network's default group, if it has one)."""
    found = []
    for dom in lv.domains():
        if not dom.is_active():
            continue
        for state in read_vm(dom, running=True).vnics.values():
            src = state.vnic.source
            if not (
                state.vnic.plugged and src and src.type == "network" and src.network == network
            ):
                continue
            if (src.portgroup or default) in groups:
                found.append(Card(dom.name, state.vnic))
    return found


def check_removed_unused(lv: Libvirt, network: str, removed: set[str], default: str | None) -> None:
    using = concerned(lv, network, removed, default)
    if using:
        listed = ", ".join(f"{card.vm}/{card.vnic.name}" for card in using)
        raise Conflict(
            f"port groups {', '.join(sorted(removed))} of network '{network}' are used by "
            f"running vNICs ({listed}); wire them elsewhere first"
        )


def refresh(
    host: HostConnection,
    store: Store,
    by: Principal,
    network: str,
    cards: list[Card],
    hotunplug_timeout: float,
) -> list[VnicOutcome]:
    """Each card given its (changed) port group's settings; each one alone."""
    outcomes = []
    why = f"network {network}'s port group changed"
    for card in cards:
        outcome = VnicOutcome(host.name, card.vm, card.vnic.name)
        own = {"vlan": card.vnic.vlan, "bandwidth": card.vnic.bandwidth}
        try:
            change = vnics.refresh_vnic(
                host, store, by, card.vm, card.vnic.name, why, own, hotunplug_timeout
            )
        except PlugboardError as err:
            outcome.outcome = "failed"
            outcome.error = {"code": err.code, "detail": err.detail}
        else:
            outcome.outcome = "ok"
            outcome.plan = list(change.plan.kinds)
            outcome.pci_address = change.vnic.pci_address if change.vnic is not None else None
        outcomes.append(outcome)
    return outcomes
