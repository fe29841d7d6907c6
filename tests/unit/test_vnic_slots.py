"""PCI slots for hot-plugged cards: read from a domain's XML, and how the planner uses them."""

import pytest
from lxml import etree

from plugboard.vnic import PlanError, Source, Vnic, plan
from plugboard.vnic.slots import Slots, modelled, slot_address, slots_of

NIC = Vnic("nic1", "52:54:00:00:00:01", source=Source("network", network="lab"))


def _port(index: int, hotplug: str | None = None) -> str:
    target = f"<target hotplug='{hotplug}'/>" if hotplug else ""
    return f"<controller type='pci' index='{index}' model='pcie-root-port'>{target}</controller>"


def _on(bus: int, device: str = "memballoon", extra: str = "") -> str:
    address = f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='0x00' function='0x0'/>"
    return f"<{device} model='virtio'>{extra}{address}</{device}>"


DOMAIN = f"""<domain><devices>
  <controller type='pci' index='0' model='pcie-root'/>
  {_port(1)}{_port(2)}{_port(3)}{_port(4)}{_port(5, hotplug="off")}
  {_on(1, "interface", "<mac address='52:54:00:00:00:09'/><alias name='ua-nic9'/>")}
  {_on(2)}
</devices></domain>"""


def test_slots_are_the_hot_pluggable_root_ports_and_what_is_in_them():
    slots = slots_of(etree.fromstring(DOMAIN), {"nic3": "0000:03:00.0", "nic4": None})
    assert slots.ports == (1, 2, 3, 4)  # a port with hot-plug off does not count
    assert slots.used == {1: "nic9", 2: "memballoon"}
    assert slots.kept == {3: "nic3"}
    assert slots.free == (3, 4) and slots.free_for_new == (4,)
    assert slots.for_new() == 4
    assert slots.describe() == "4 hot-plug slots, in use by nic9, memballoon"


def test_a_new_card_takes_a_free_slot_nobody_keeps_then_a_kept_one_then_none():
    assert Slots((3, 4), {}, {3: "nic3"}).for_new() == 4
    assert Slots((3,), {}, {3: "nic3"}).for_new() == 3
    assert Slots((3,), {3: "nic3"}, {}).for_new() is None
    assert slot_address(0x1A) == "0000:1a:00.0"


def test_a_plug_into_a_full_vm_is_refused_before_anything_happens():
    full = Slots((1, 2), {1: "nic1", 2: "memballoon"}, {})
    with pytest.raises(PlanError) as caught:
        plan(None, NIC, vm_running=True, slots=full)
    assert caught.value.code == "NO_FREE_PCI_SLOT"
    assert "2 hot-plug slots, in use by nic1, memballoon" in str(caught.value)
    assert "hotplug_slots" in str(caught.value)
    # A stopped VM's definition gets a port from libvirt: no limit there.
    assert plan(None, NIC, vm_running=False, slots=full).kinds == ("config-only",)


def test_a_replug_goes_back_into_its_kept_slot_or_says_it_was_taken():
    unplugged = NIC.with_(plugged=False)
    back = plan(unplugged, NIC, True, slots=Slots((3, 4), {}, {3: "nic1"}))
    [action] = back.actions
    assert (action.kind, action.keeps_pci_address, action.pci_address) == (
        "plug",
        True,
        "0000:03:00.0",
    )
    assert "back into its PCI slot 0000:03:00.0" in action.reason
    taken = plan(unplugged, NIC, True, slots=Slots((3, 4), {3: "nic7"}, {3: "nic1"}))
    [action] = taken.actions
    assert (action.keeps_pci_address, action.pci_address) == (False, "0000:04:00.0")
    assert "its PCI slot 0000:03:00.0 is now used by nic7" in action.reason


def test_a_new_card_says_when_it_takes_a_kept_slot():
    [action] = plan(None, NIC.with_(name="nic2"), True, slots=Slots((3,), {}, {3: "nic1"})).actions
    assert "kept for unplugged nic1" in action.reason


def test_only_a_q35_machine_with_root_ports_only_has_slots_plugboard_plans():
    assert modelled(etree.fromstring(DOMAIN))
    i440fx = (
        "<domain><devices><controller type='pci' index='0' model='pci-root'/></devices></domain>"
    )
    assert not modelled(etree.fromstring(i440fx))  # its bus's own slots take hot-plugged cards
    bridged = DOMAIN.replace(
        _port(4), "<controller type='pci' index='4' model='pcie-to-pci-bridge'/>"
    )
    assert not modelled(etree.fromstring(bridged))  # a bridge's slots take them too


def test_a_replug_whose_slot_takes_no_hot_plugged_card_goes_into_a_free_one():
    [action] = plan(NIC.with_(plugged=False), NIC, True, slots=Slots((4,), {}, {0: "nic1"})).actions
    assert "its PCI slot 0000:00:00.0 takes no hot-plugged card" in action.reason
    assert action.pci_address == "0000:04:00.0" and action.keeps_pci_address is False
