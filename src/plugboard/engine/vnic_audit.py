"""What the audit log says of a vNIC change: in words ("nic1 re-wired lab → prod (live update,
slot kept)") and as data (the plan, the vNIC before, as asked and after, the outcome).

Built from the engine's account of the change (plugboard.engine.vnics.VnicChange), or, when it
failed, from the error and the change it stopped (`PlugboardError.attempt`). Its own module:
plugboard.engine.audit sits below the journal, which the vNIC engine uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from plugboard.engine.vnics import VnicChange
from plugboard.errors import HostUnreachable, HotunplugTimeout, PlugboardError
from plugboard.vnic import Plan, Vnic
from plugboard.vnic.model import vnic_to_json

Operation = Literal["add", "change", "remove"]
# A verb as asked (a dry run, a failure) and as done.
DONE = {"add": "added", "remove": "removed", "re-wire": "re-wired", "plug": "plugged",
        "unplug": "unplugged"}  # fmt: skip
# How the plan carries a change out, in a few words.
HOW = {
    ("live-update",): "live update",
    ("unplug", "plug"): "unplug + plug",
    ("plug",): "hot-plug",
    ("unplug",): "hot-unplug",
    ("config-only",): "definition only",
    ("reconnect",): "tap reconnected",
}


@dataclass(frozen=True)
class VnicAccount:
    """One vNIC request as the audit log keeps it: words, data, and the result when the HTTP
    status does not say it (a dry run changed nothing: "dry-run", not "ok")."""

    detail: str
    data: dict[str, Any]
    result: str | None = None


def changed(
    change: VnicChange, *, operation: Operation, name: str | None, asked: Any, dry_run: bool
) -> VnicAccount:
    """A request the engine answered: applied, a dry run, or nothing to do."""
    name = name or _name(change)
    if dry_run:
        words = f"dry run, nothing changed: {_phrase(name, change, done=False)}"
        outcome = "dry run"
    elif change.plan.kinds == ("none",):
        words, outcome = f"{name} is already as asked: nothing to do", "nothing to do"
    else:
        words, outcome = _phrase(name, change, done=True), "applied"
    if change.unchecked_hosts:
        words += f"; MAC not checked on unreachable hosts: {', '.join(change.unchecked_hosts)}"
    data = _data(operation, name, asked, dry_run, outcome, change)
    return VnicAccount(words, data, "dry-run" if dry_run else None)


def failed(
    err: PlugboardError, *, operation: Operation, name: str | None, asked: Any, dry_run: bool
) -> VnicAccount:
    """A request that failed: refused before anything changed (a 4xx error before any step),
    or stopped under way, and then rolled back, timed out, or left for recovery."""
    attempt: VnicChange | None = err.attempt
    if attempt is None:  # stopped before the executor began it
        outcome, end = ("refused", "nothing changed") if err.status < 500 else ("failed", None)
        what = f"{name or 'new vNIC'} {operation}"
    else:
        name = name or _name(attempt)
        outcome, end = _failure(err)
        what = _phrase(name, attempt, done=False)
    verb = "refused" if outcome == "refused" else "failed"
    data = _data(operation, name, asked, dry_run, outcome, attempt)
    data["error"] = {
        "code": err.code,
        "detail": err.detail,
        "rollback_errors": err.extra.get("rollback_errors", []),
    }
    return VnicAccount(f"{what} {verb}: {err.detail}" + (f"; {end}" if end else ""), data)


def _failure(err: PlugboardError) -> tuple[str, str]:
    """What became of a change the executor began (plugboard.engine.executor): it reports
    the undos that failed of every change whose steps began, and refuses one (a MAC reserved
    meanwhile) before its first step; a host gone mid-way leaves it to recovery."""
    if isinstance(err, HostUnreachable):
        return "interrupted", "recovery ends it when the host is back"
    if "rollback_errors" not in err.extra:
        return "refused", "nothing changed"
    if err.extra["rollback_errors"]:
        return "needs attention", "the rollback failed too: the vNIC needs attention"
    if isinstance(err, HotunplugTimeout):
        return "timed out", "the card stays plugged"
    return "rolled back", "rolled back, the vNIC is as it was"


def _data(
    operation: Operation,
    name: str | None,
    asked: Any,
    dry_run: bool,
    outcome: str,
    change: VnicChange | None,
) -> dict[str, Any]:
    after = change.vnic if change is not None and change.applied else None
    return {
        "vnic": name,
        "operation": operation,
        "dry_run": dry_run,
        "outcome": outcome,
        "asked": asked,
        "plan": _plan(change.plan) if change is not None else None,
        "before": _vnic(change.before) if change is not None else None,
        "desired": _vnic(change.desired) if change is not None else None,
        "after": _vnic(after.vnic) if after is not None else None,
        "notes": change.notes if change is not None else [],
        "unchecked_hosts": change.unchecked_hosts if change is not None else [],
    }


def _plan(plan: Plan) -> list[dict[str, Any]]:
    return [asdict(action) for action in plan.actions]


def _vnic(vnic: Vnic | None) -> dict[str, Any] | None:
    return vnic_to_json(vnic) if vnic is not None else None


def _name(change: VnicChange) -> str:
    vnic = change.desired or change.before
    return vnic.name if vnic is not None else "vNIC"


# --- words -------------------------------------------------------------------------------------
def _phrase(name: str, change: VnicChange, *, done: bool) -> str:
    """What changes, and how: "nic1 re-wired lab → prod (live update, slot kept)"."""
    before, desired = change.before, change.desired
    if before is None and desired is not None:
        what = [_verb("add", done), _described(desired)]
    elif desired is None and before is not None:
        what = [_verb("remove", done), f"(was {_described(before)})"]
    elif before is not None and desired is not None:
        what = [", ".join(_differences(before, desired, done)) or "no change"]
    else:
        what = ["no change"]
    return f"{name} {' '.join(what)} ({_how(change.plan)})"


def _verb(verb: str, done: bool) -> str:
    return DONE.get(verb, verb) if done else verb


def _how(plan: Plan) -> str:
    how = HOW.get(plan.kinds, " + ".join(plan.kinds))
    if plan.kinds in (("live-update",), ("unplug", "plug")):
        how += ", slot kept" if plan.keeps_pci_address else ", new slot"
    return how


def _differences(before: Vnic, after: Vnic, done: bool) -> list[str]:
    words = []
    if before.as_chosen().source != after.as_chosen().source:
        words.append(f"{_verb('re-wire', done)} {_source(before)} → {_source(after)}")
    if before.plugged != after.plugged:
        words.append(_verb("plug" if after.plugged else "unplug", done))
    if before.linked != after.linked:
        words.append("link up" if after.linked else "link down")
    for label, old, new in (
        ("MAC", before.mac, after.mac),
        ("model", before.model, after.model),
        ("QoS", _qos(before), _qos(after)),
        ("VLAN", _vlan(before), _vlan(after)),
    ):
        if old != new:
            words.append(f"{label} {old} → {new}")
    return words


def _described(vnic: Vnic) -> str:
    """A vNIC in a line: "on lab, MAC 52:54:00:00:00:01, virtio, unplugged, link down"."""
    words = [f"on {_source(vnic)}", f"MAC {vnic.mac}", vnic.model]
    words += [] if vnic.plugged else ["unplugged"]
    words += [] if vnic.linked else ["link down"]
    return ", ".join(words)


def _source(vnic: Vnic) -> str:
    source = vnic.source
    if source is None:
        return "no network"
    if source.type == "network":
        return f"{source.network}/{source.portgroup}" if source.portgroup else f"{source.network}"
    if source.type == "macvtap":
        return f"macvtap {source.dev} ({source.mode})"
    label = {"bridge": "bridge", "ovs": "OVS bridge"}.get(source.type, source.type)
    return f"{label} {source.bridge or source.dev or ''}".strip()


def _qos(vnic: Vnic) -> str:
    return ", ".join(f"{key}={value}" for key, value in vnic.bandwidth) or "none"


def _vlan(vnic: Vnic) -> str:
    if vnic.vlan is None:
        return "none"
    tags = ",".join(str(tag) for tag in vnic.vlan.tags)
    return f"trunk {tags}" if vnic.vlan.trunk else tags
