"""What the audit log says of a vNIC change, in words and as data: the engine's account of
each kind of change (plans from the real planner), dry runs, and failures."""

import pytest

from plugboard.engine import vnic_audit
from plugboard.engine.vnics import VnicChange
from plugboard.errors import (
    HostTimeout,
    HostUnreachable,
    HotunplugTimeout,
    MacAddressInUse,
    PreconditionFailed,
    UpdateVnicFailed,
)
from plugboard.vnic import Source, VlanTags, Vnic, plan

A, B = "56:6f:70:00:00:01", "56:6f:70:00:00:02"
NETA, NETB = Source("network", network="neta"), Source("network", network="netb")
OVS = Source("ovs", bridge="ovsbr0", attachment="ovs")
NIC = Vnic("nic1", A, source=NETA)
ASKED = {"asked": {"any": "body"}}


def applied(before: Vnic | None, after: Vnic | None, running: bool = True) -> VnicChange:
    """A change as the engine reports it once done (the vNIC after it as `after`)."""
    steps = plan(before, after, running)
    return VnicChange(steps, None, True, before=before, desired=after)


def words(before: Vnic | None, after: Vnic | None, running: bool = True) -> str:
    change = applied(before, after, running)
    return vnic_audit.changed(
        change, operation="change", name="nic1", dry_run=False, **ASKED
    ).detail


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        (NIC, NIC.with_(source=NETB), "nic1 re-wired neta → netb (live update, slot kept)"),
        (NIC, NIC.with_(linked=False), "nic1 link down (live update, slot kept)"),
        (NIC.with_(linked=False), NIC, "nic1 link up (live update, slot kept)"),
        (NIC, NIC.with_(mac=B), f"nic1 MAC {A} → {B} (unplug + plug, slot kept)"),
        (NIC, NIC.with_(model="e1000"), "nic1 model virtio → e1000 (unplug + plug, slot kept)"),
        (
            NIC,
            NIC.with_(bandwidth=(("inbound.average", 1000),)),
            "nic1 QoS none → inbound.average=1000 (live update, slot kept)",
        ),
        (
            NIC.with_(source=OVS, vlan=VlanTags((100,))),
            NIC.with_(source=OVS, vlan=VlanTags((100, 200), trunk=True)),
            "nic1 VLAN 100 → trunk 100,200 (live update, slot kept)",
        ),
        (NIC, NIC.with_(plugged=False), "nic1 unplugged (hot-unplug)"),
        (NIC.with_(plugged=False), NIC, "nic1 plugged (hot-plug)"),
        (NIC, NIC.with_(source=None), "nic1 re-wired neta → no network (live update, slot kept)"),
        (
            NIC,
            NIC.with_(source=Source("bridge", bridge="br0")),
            "nic1 re-wired neta → bridge br0 (live update, slot kept)",
        ),
        (
            NIC,
            NIC.with_(source=NETB, linked=False),
            "nic1 re-wired neta → netb, link down (live update, slot kept)",
        ),
    ],
)
def test_each_kind_of_change_is_said_in_words(before, after, said):
    assert words(before, after) == said


def test_a_stopped_vms_change_is_its_definition_only():
    assert words(NIC, NIC.with_(source=NETB), running=False) == (
        "nic1 re-wired neta → netb (definition only)"
    )


def test_add_and_remove_say_what_the_vnic_is():
    added = vnic_audit.changed(
        applied(None, NIC.with_(name="nic2", linked=False)),
        operation="add",
        name=None,
        dry_run=False,
        **ASKED,
    )
    assert added.detail == f"nic2 added on neta, MAC {A}, virtio, link down (hot-plug)"
    assert added.data["vnic"] == "nic2"
    removed = applied(NIC.with_(plugged=False), None)
    account = vnic_audit.changed(
        removed, operation="remove", name="nic1", dry_run=False, asked=None
    )
    assert account.detail == (
        f"nic1 removed (was on neta, MAC {A}, virtio, unplugged) (definition only)"
    )
    assert (account.data["before"]["mac"], account.data["after"]) == (A, None)


def test_the_data_has_the_plan_the_vnic_before_as_asked_and_after():
    change = applied(NIC, NIC.with_(mac=B))
    change.vnic = None  # what libvirt shows after is the route's business; here: none read
    account = vnic_audit.changed(
        change, operation="change", name="nic1", dry_run=False, asked={"mac": B}
    )
    data = account.data
    assert (data["operation"], data["outcome"], data["dry_run"]) == ("change", "applied", False)
    assert data["asked"] == {"mac": B}
    assert [(a["kind"], a["keeps_pci_address"]) for a in data["plan"]] == [
        ("unplug", True),
        ("plug", True),
    ]
    assert "the MAC changes" in data["plan"][0]["reason"]
    assert (data["before"]["mac"], data["desired"]["mac"]) == (A, B)
    assert data["before"]["source"]["network"] == "neta"
    assert account.result is None  # "ok", from the status


def test_a_dry_run_is_logged_as_one_and_changes_nothing():
    change = applied(NIC, NIC.with_(source=NETB))
    change.applied = False
    account = vnic_audit.changed(change, operation="change", name="nic1", dry_run=True, **ASKED)
    assert account.detail == (
        "dry run, nothing changed: nic1 re-wire neta → netb (live update, slot kept)"
    )
    assert account.result == "dry-run"
    assert (account.data["outcome"], account.data["after"]) == ("dry run", None)
    assert account.data["desired"]["source"]["network"] == "netb"


def test_nothing_to_do_says_so():
    change = VnicChange(plan(NIC, NIC, True), None, False, before=NIC, desired=NIC)
    account = vnic_audit.changed(change, operation="change", name="nic1", dry_run=False, **ASKED)
    assert account.detail == "nic1 is already as asked: nothing to do"
    assert account.data["outcome"] == "nothing to do"


def attempt(before: Vnic, desired: Vnic) -> VnicChange:
    return VnicChange(plan(before, desired, True), None, False, before=before, desired=desired)


@pytest.mark.parametrize(
    ("error", "outcome", "said"),
    [
        (
            UpdateVnicFailed("network 'netb' is not active", rollback_errors=[]),
            "rolled back",
            "nic1 re-wire neta → netb (live update, slot kept) failed: network 'netb' is not "
            "active; rolled back, the vNIC is as it was",
        ),
        (
            UpdateVnicFailed("no", rollback_errors=["undo update: gone"]),
            "needs attention",
            "nic1 re-wire neta → netb (live update, slot kept) failed: no; the rollback "
            "failed too: the vNIC needs attention",
        ),
        (
            HostUnreachable("lost"),
            "interrupted",
            "nic1 re-wire neta → netb (live update, slot kept) failed: lost; recovery ends it "
            "when the host is back",
        ),
    ],
)
def test_a_failure_under_way_says_what_was_tried_and_how_it_ended(error, outcome, said):
    error.attempt = attempt(NIC, NIC.with_(source=NETB))
    account = vnic_audit.failed(error, operation="change", name="nic1", dry_run=False, **ASKED)
    assert account.detail == said
    assert account.data["outcome"] == outcome
    assert account.data["error"] == {
        "code": error.code,
        "detail": error.detail,
        "rollback_errors": error.extra.get("rollback_errors", []),
    }
    assert [a["kind"] for a in account.data["plan"]] == ["live-update"]
    assert account.data["desired"]["source"]["network"] == "netb"


def test_a_hotunplug_timeout_says_the_card_stays():
    error = HotunplugTimeout("the guest did not release vNIC nic1 within 30 s", rollback_errors=[])
    error.attempt = attempt(NIC, NIC.with_(plugged=False))
    account = vnic_audit.failed(error, operation="change", name="nic1", dry_run=False, **ASKED)
    assert account.detail == (
        "nic1 unplug (hot-unplug) failed: the guest did not release vNIC nic1 within 30 s; "
        "the card stays plugged"
    )
    assert account.data["outcome"] == "timed out"


def test_a_refusal_changed_nothing_and_a_host_failure_does_not_say_so():
    refused = vnic_audit.failed(
        PreconditionFailed("vNIC nic1 changed since you read it"),
        operation="remove",
        name="nic1",
        dry_run=False,
        asked=None,
    )
    assert refused.detail == (
        "nic1 remove refused: vNIC nic1 changed since you read it; nothing changed"
    )
    assert (refused.data["outcome"], refused.data["plan"]) == ("refused", None)
    timeout = vnic_audit.failed(
        HostTimeout("no answer in 90 s"), operation="add", name=None, dry_run=False, **ASKED
    )
    assert timeout.detail == "new vNIC add failed: no answer in 90 s"
    assert timeout.data["outcome"] == "failed"


def test_a_change_the_executor_refused_before_its_first_step_changed_nothing():
    error = MacAddressInUse(f"MAC {B} is in use", mac=B)
    error.attempt = attempt(NIC, NIC.with_(mac=B))
    account = vnic_audit.failed(error, operation="change", name="nic1", dry_run=False, **ASKED)
    assert account.detail == (
        f"nic1 MAC {A} → {B} (unplug + plug, slot kept) refused: MAC {B} is in use; nothing changed"
    )
    assert account.data["outcome"] == "refused"
