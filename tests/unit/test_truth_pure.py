"""The pure parts of keeping the truth: drift in words, the reconnect plan, steps and vNICs as
the journal keeps them."""

import pytest

from plugboard.engine.steps import (
    STEPS,
    Define,
    Mark,
    Plug,
    PlugConfig,
    Reconnect,
    Unplug,
    UnplugConfig,
    UpdateCard,
    WriteRecords,
    step_from_json,
)
from plugboard.vnic import Source, VlanTags, Vnic, plan
from plugboard.vnic.drift import describe
from plugboard.vnic.model import vnic_from_json, vnic_to_json

LAB = Source("network", network="lab")
NIC = Vnic("nic1", "52:54:00:00:00:01", source=LAB)


@pytest.mark.parametrize(
    ("now", "words"),
    [
        (NIC, None),
        (NIC.with_(linked=False), "link set down outside plugboard"),
        (NIC.with_(source=Source("network", network="prod")),
         "wired to network prod (was network lab) outside plugboard"),
        (NIC.with_(mac="52:54:00:00:00:09"),
         "MAC changed from 52:54:00:00:00:01 to 52:54:00:00:00:09 outside plugboard"),
        (NIC.with_(plugged=False, linked=False), "unplugged, link set down outside plugboard"),
        # the attachment is worked out, not chosen: no drift
        (NIC.with_(source=Source("network", network="lab", attachment="macvtap")), None),
    ],
)  # fmt: skip
def test_drift_says_what_changed_outside_plugboard(now, words):
    assert describe(NIC, now) == words


def test_a_tap_off_its_network_is_reconnected_when_asked_for_as_it_is():
    assert plan(NIC, NIC, vm_running=True).kinds == ("none",)
    assert plan(NIC, NIC, vm_running=True, disconnected="network lab stopped").kinds == (
        "reconnect",
    )
    # not running, unplugged or without a network: nothing to reconnect
    assert plan(NIC, NIC, vm_running=False, disconnected="x").kinds == ("none",)
    unplugged = NIC.with_(plugged=False)
    assert plan(unplugged, unplugged, vm_running=True, disconnected="x").kinds == ("none",)


def test_a_vnic_and_every_step_read_back_from_the_journal():
    vnic = NIC.with_(bandwidth=(("inbound.average", 5),), vlan=VlanTags((1, 2), trunk=True))
    assert vnic_from_json(vnic_to_json(vnic)) == vnic
    card = "<interface type='network'><mac address='52:54:00:00:00:01'/></interface>"
    steps = [
        UpdateCard(card, card, "nic1", vnic_to_json(vnic), True),
        Unplug(card, "nic1"),
        UnplugConfig(card),
        Plug(card, "nic1", any_slot=True),
        PlugConfig("52:54:00:00:00:01"),
        WriteRecords(None, "<vnics/>", True),
        Mark("<vnics/>", "<vnics><pending/></vnics>", False),
        Define("<domain/>", "<domain/>", "nic1", None),
        Reconnect(card),
    ]
    assert {type(s) for s in steps} == set(STEPS.values())
    for step in steps:
        assert step_from_json(step.to_json()) == step
