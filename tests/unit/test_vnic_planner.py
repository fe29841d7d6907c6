"""The vNIC planner: DESIGN.md's rules as plain data in, plans out."""

import pytest

from plugboard.vnic import PlanError, Source, VlanTags, Vnic, VnicEdit, plan
from plugboard.vnic.model import FilterRef

LAB = Source("network", network="lab")
PROD = Source("network", network="prod")
MACVTAP = Source("macvtap", dev="eth1", mode="bridge", attachment="macvtap")
OVS = Source("ovs", bridge="ovsbr0", attachment="ovs")
BRIDGE = Source("bridge", bridge="br0")
NIC = Vnic("nic1", "52:54:00:00:00:01", source=LAB)
ON_OVS = NIC.with_(source=OVS)
ON_OVS_NET = NIC.with_(source=Source("network", network="ovsnet", attachment="ovs"))
OVS_NET_ENG = Source("network", network="ovsnet", portgroup="eng", attachment="ovs")


@pytest.mark.parametrize(
    ("current", "desired", "kinds", "keeps_pci"),
    [
        (NIC, NIC.with_(source=PROD), ("live-update",), True),
        (NIC, NIC.with_(linked=False), ("live-update",), True),
        (NIC, NIC.with_(source=None), ("live-update",), True),
        (
            NIC,
            NIC.with_(source=Source("network", network="lab", portgroup="eng")),
            ("live-update",),
            True,
        ),
        (NIC, NIC.with_(bandwidth=(("inbound.average", 1000),)), ("live-update",), True),
        (NIC, NIC.with_(mac="52:54:00:00:00:02"), ("unplug", "plug"), True),
        (NIC, NIC.with_(model="e1000"), ("unplug", "plug"), True),
        (NIC, NIC.with_(source=MACVTAP), ("unplug", "plug"), True),
        # a macvtap cannot be re-wired live, to another device or mode
        (
            NIC.with_(source=MACVTAP),
            NIC.with_(source=Source("macvtap", dev="eth2", mode="bridge", attachment="macvtap")),
            ("unplug", "plug"),
            True,
        ),
        (
            NIC.with_(source=MACVTAP),
            NIC.with_(source=Source("macvtap", dev="eth1", mode="vepa", attachment="macvtap")),
            ("unplug", "plug"),
            True,
        ),
        # on or off Open vSwitch: unplug + plug; within it (VLANs, another OVS bridge): live
        (NIC, ON_OVS, ("unplug", "plug"), True),
        (ON_OVS, NIC.with_(source=BRIDGE), ("unplug", "plug"), True),
        (ON_OVS, ON_OVS.with_(vlan=VlanTags((100,))), ("live-update",), True),
        (
            ON_OVS.with_(vlan=VlanTags((100,))),
            ON_OVS.with_(vlan=VlanTags((100, 200), trunk=True)),
            ("live-update",),
            True,
        ),
        (
            ON_OVS,
            ON_OVS.with_(source=Source("ovs", bridge="ovsbr1", attachment="ovs")),
            ("live-update",),
            True,
        ),
        (NIC, NIC.with_(source=BRIDGE), ("live-update",), True),
        (NIC, NIC.with_(plugged=False), ("unplug",), True),
        (NIC.with_(plugged=False), NIC, ("plug",), False),
        (NIC.with_(plugged=False), NIC.with_(plugged=False, source=PROD), ("config-only",), True),
        (NIC, NIC, ("none",), True),
        # a card on an Open vSwitch network moves to another one, or another port group of
        # one, by unplug + plug (libvirt would lose its VLAN); its link changes live
        (ON_OVS_NET, ON_OVS_NET.with_(source=OVS_NET_ENG), ("unplug", "plug"), True),
        (ON_OVS_NET, ON_OVS_NET.with_(linked=False), ("live-update",), True),
        # a network filter changes live; a profile's name alone is plugboard's record
        (NIC, NIC.with_(filter=FilterRef("clean-traffic")), ("live-update",), True),
        (NIC, NIC.with_(profile="gold"), ("config-only",), True),
        (NIC.with_(profile="gold"), NIC.with_(profile="gold", source=PROD), ("live-update",), True),
        (None, NIC, ("plug",), False),
        (None, NIC.with_(plugged=False), ("config-only",), True),
        (NIC.with_(plugged=False), None, ("config-only",), True),
    ],
)
def test_running_vm(current, desired, kinds, keeps_pci):
    result = plan(current, desired, vm_running=True)
    assert result.kinds == kinds
    assert result.keeps_pci_address is keeps_pci
    assert all(action.reason for action in result.actions)


@pytest.mark.parametrize(
    "desired",
    [NIC.with_(mac="52:54:00:00:00:09"), NIC.with_(plugged=False), NIC.with_(source=MACVTAP), None],
)
def test_a_stopped_vm_only_changes_its_definition(desired):
    assert plan(NIC, desired, vm_running=False).kinds == ("config-only",)


def test_a_plugged_vnic_of_a_running_vm_cannot_be_removed():
    with pytest.raises(PlanError) as caught:
        plan(NIC, None, vm_running=True)
    assert caught.value.code == "CANNOT_REMOVE_ACTIVE_DEVICE"


def test_plug_says_how_the_cable_goes_in():
    assert "unlinked" in plan(None, NIC.with_(linked=False), vm_running=True).actions[0].reason
    assert NIC.with_(linked=False).active is False
    assert NIC.alias == "ua-nic1"


def test_leaving_open_vswitch_leaves_its_vlans_behind():
    tagged = ON_OVS.with_(vlan=VlanTags((100,)))
    assert VnicEdit({"source": BRIDGE}).applied_to(tagged).vlan is None
    assert VnicEdit({"source": None}).applied_to(tagged).vlan is None
    assert VnicEdit({"linked": False}).applied_to(tagged).vlan == VlanTags((100,))
    kept = VnicEdit({"source": LAB, "vlan": VlanTags((7,))}).applied_to(tagged)
    assert kept.vlan == VlanTags((7,))
