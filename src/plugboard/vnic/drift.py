"""Drift: how a vNIC differs from how plugboard last left it (a change made outside plugboard,
with virsh or another tool), in words."""

from __future__ import annotations

from plugboard.vnic.model import Source, Vnic


def where(source: Source | None) -> str:
    if source is None:
        return "no network"
    what = source.network or source.bridge or source.dev or source.type
    return f"{source.type} {what}"


def describe(baseline: Vnic, now: Vnic) -> str | None:
    """What changed from `baseline` to `now`, or None when nothing did."""
    before, after = baseline.as_chosen(), now.as_chosen()
    found = []
    if before.mac != after.mac:
        found.append(f"MAC changed from {before.mac} to {after.mac}")
    if before.model != after.model:
        found.append(f"model changed from {before.model} to {after.model}")
    if before.plugged != after.plugged:
        found.append("plugged" if after.plugged else "unplugged")
    if before.linked != after.linked:
        found.append(f"link set {'up' if after.linked else 'down'}")
    if before.source != after.source:
        found.append(f"wired to {where(after.source)} (was {where(before.source)})")
    if before.bandwidth != after.bandwidth:
        found.append("QoS changed")
    if before.vlan != after.vlan:
        found.append("VLANs changed")
    if before.filter != after.filter:
        found.append("network filter changed")
    return f"{', '.join(found)} outside plugboard" if found else None
