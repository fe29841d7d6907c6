"""Room for hot-plugged cards (PCI slots), dry runs that fail as the real run would and show
the vNIC as it would be, and facts that agree (issue 15, sections 2-4), on a real test host
with booted guests."""

from __future__ import annotations

import contextlib
import time

import libvirt
import pytest
from lxml import etree

from tests.harness import Guest, NetworkFactory, TestHost
from tests.harness.guest import INITRD, KERNEL
from tests.integration.test_vnics import VM, nic_path, patch, xml_snapshot
from tests.unit.test_api_auth import assert_problem

BOOT = {"kernel": str(KERNEL), "initrd": str(INITRD), "cmdline": "console=ttyS0"}


@pytest.fixture
def made(svc, testhost: TestHost):
    """VMs made through the API (by name), destroyed and undefined at the end."""
    names: list[str] = []

    def make(network: str, *, start: bool = True, **fields) -> dict:
        name = f"pbtest-s{time.monotonic_ns() % 1000000}"
        body = {"name": name, "memory_mib": 160, "boot": BOOT, **fields}
        body.setdefault("nics", [{"source": {"type": "network", "network": network}}])
        created = svc.post(f"{VM}?start={str(start).lower()}", json=body)
        assert created.status_code == 201, created.text
        names.append(name)
        return created.json()

    yield make
    for name in names:
        with contextlib.suppress(libvirt.libvirtError):
            dom = testhost.conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()


def add_nic(svc, vm: str, network: str, **fields):
    body = {"source": {"type": "network", "network": network}, **fields}
    return svc.post(f"{VM}/{vm}/nics", json=body)


# --- 2. room to grow --------------------------------------------------------------------------
def test_a_running_vm_takes_five_hot_plugged_vnics_each_in_a_slot_of_its_own(
    svc, made, networks: NetworkFactory
):
    net = networks.create()
    vm = made(net.name)
    assert vm["state"] == "running" and vm["hotplug_slots_free"] == 8
    addresses = {vm["nics"][0]["pci_address"]}
    for n in range(5):
        added = add_nic(svc, vm["name"], net.name)
        assert added.status_code == 201, added.text
        [action] = added.json()["plan"]
        assert action["kind"] == "plug" and "free PCI slot" in action["reason"]
        addresses.add(added.json()["vnic"]["pci_address"])
        assert len(addresses) == n + 2
    assert svc.get(f"{VM}/{vm['name']}").json()["hotplug_slots_free"] == 3


def test_a_vm_without_a_free_slot_gets_409_no_free_pci_slot_and_more_at_its_next_start(
    svc, made, networks: NetworkFactory, testhost: TestHost
):
    net = networks.create()
    vm = made(net.name, hotplug_slots=1)
    assert vm["hotplug_slots_free"] == 1
    assert add_nic(svc, vm["name"], net.name).status_code == 201
    dom = testhost.conn.lookupByName(vm["name"])
    before = xml_snapshot(dom)
    refused = add_nic(svc, vm["name"], net.name)
    assert_problem(refused, 409, "NO_FREE_PCI_SLOT")
    assert "hotplug_slots" in refused.json()["detail"] and "restart" in refused.json()["detail"]
    assert xml_snapshot(dom) == before

    more = svc.patch(f"{VM}/{vm['name']}", json={"hotplug_slots": 3})
    assert more.status_code == 200, more.text
    assert more.json()["hotplug_slots_free"] == 0  # the running VM cannot get more
    assert more.json()["hotplug_slots_at_start"] == 3
    assert svc.post(f"{VM}/{vm['name']}/destroy").status_code == 200
    assert svc.post(f"{VM}/{vm['name']}/start").status_code == 200
    assert svc.get(f"{VM}/{vm['name']}").json()["hotplug_slots_free"] == 3
    assert add_nic(svc, vm["name"], net.name).status_code == 201
    assert_problem(
        svc.patch(f"{VM}/{vm['name']}", json={"hotplug_slots": 65}), 422, "VALIDATION_ERROR"
    )


def test_an_unplugged_vnic_keeps_its_slot_and_the_plan_says_when_it_was_taken(
    svc, guest_on_a_network: Guest, networks: NetworkFactory
):
    guest = guest_on_a_network
    kept = svc.get(nic_path(guest)).json()["pci_address"]
    assert patch(svc, guest, {"plugged": False}).status_code == 200
    # A new card does not take the slot an unplugged vNIC keeps.
    net = networks.create()
    added = add_nic(svc, guest.name, net.name)
    assert added.status_code == 201, added.text
    assert added.json()["vnic"]["pci_address"] != kept

    back = svc.patch(nic_path(guest) + "?dry_run=true", json={"plugged": True})
    [action] = back.json()["plan"]
    assert f"back into its PCI slot {kept}" in action["reason"]
    assert action["keeps_pci_address"] is True and action["pci_address"] == kept

    # Taken meanwhile, outside plugboard (virsh attach-device into that very slot).
    bus = int(kept.split(":")[1], 16)
    card = (
        f"<interface type='network'><source network='{net.name}'/><model type='virtio'/>"
        f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='0x00' function='0x0'/>"
        "</interface>"
    )
    guest.dom.attachDeviceFlags(card, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    back = svc.patch(nic_path(guest) + "?dry_run=true", json={"plugged": True})
    [action] = back.json()["plan"]
    assert f"its PCI slot {kept} is now used by" in action["reason"]
    assert action["keeps_pci_address"] is False and action["pci_address"] != kept
    plugged = patch(svc, guest, {"plugged": True})
    assert plugged.status_code == 200, plugged.text
    assert plugged.json()["vnic"]["pci_address"] == action["pci_address"]


@pytest.fixture
def guest_on_a_network(guests, networks: NetworkFactory) -> Guest:
    return guests.boot(networks.create().name, persistent=True)


# --- 3. dry runs that tell the truth ----------------------------------------------------------
def test_a_dry_run_to_a_stopped_network_fails_as_the_real_run_and_changes_nothing(
    svc, guest_on_a_network: Guest, networks: NetworkFactory
):
    guest = guest_on_a_network
    stopped = networks.create(persistent=True)
    stopped.net.destroy()
    before = xml_snapshot(guest.dom)
    to_stopped = {"source": {"type": "network", "network": stopped.name}}
    dry = svc.patch(nic_path(guest) + "?dry_run=true", json=to_stopped)
    real = patch(svc, guest, to_stopped)
    for answer in (dry, real):
        assert_problem(answer, 409, "NETWORK_INACTIVE")
        assert f"net-start {stopped.name}" in answer.json()["detail"]
    assert xml_snapshot(guest.dom) == before


def test_a_dry_run_shows_the_vnic_as_it_would_be_and_warns_of_an_untried_unplug(
    svc, guest_on_a_network: Guest
):
    guest = guest_on_a_network
    now = svc.get(nic_path(guest)).json()
    before = xml_snapshot(guest.dom)
    dry = svc.patch(nic_path(guest) + "?dry_run=true", json={"linked": False, "model": "e1000e"})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["applied"] is False
    assert body["vnic"]["linked"] is False and body["vnic"]["model"] == "e1000e"
    assert body["vnic"]["active"] is False and body["vnic"]["etag"] != now["etag"]
    assert any("has not let a hot-unplugged card go" in note for note in body["notes"])
    assert xml_snapshot(guest.dom) == before

    # Once the guest has let a card go, the plan no longer warns.
    assert patch(svc, guest, {"plugged": False}).status_code == 200
    assert patch(svc, guest, {"plugged": True}).status_code == 200
    dry = svc.patch(nic_path(guest) + "?dry_run=true", json={"model": "e1000e"})
    assert dry.json()["notes"] == []


def test_vm_start_on_a_stopped_network_and_a_missing_kernel_get_codes_that_say_the_fix(
    svc, made, networks: NetworkFactory, testhost: TestHost
):
    net = networks.create(persistent=True)
    vm = made(net.name, start=False)
    net.net.destroy()
    refused = svc.post(f"{VM}/{vm['name']}/start")
    assert_problem(refused, 409, "NETWORK_INACTIVE")
    assert f"net-start {net.name}" in refused.json()["detail"]
    assert not testhost.conn.lookupByName(vm["name"]).isActive()

    name = f"pbtest-nokernel{time.monotonic_ns() % 100000}"
    boot = BOOT | {"kernel": "/nonexistent/vmlinuz"}
    missing = svc.post(f"{VM}?start=true", json={"name": name, "boot": boot})
    assert_problem(missing, 422, "FILE_NOT_FOUND")
    assert "/nonexistent/vmlinuz" in missing.json()["detail"]
    assert missing.json()["errors"][0]["field"] == "boot.kernel"
    assert name not in testhost.conn.listDefinedDomains()


# --- 4. facts that agree ------------------------------------------------------------------------
def test_a_stopped_vms_vnics_are_not_active_and_say_what_they_will_be(
    svc, made, networks: NetworkFactory
):
    net = networks.create()
    nics = [
        {"source": {"type": "network", "network": net.name}},
        {"source": {"type": "network", "network": net.name}, "linked": False},
    ]
    vm = made(net.name, start=False, nics=nics)
    shown = {n["name"]: n for n in svc.get(f"{VM}/{vm['name']}").json()["nics"]}
    assert [(n["active"], n["active_at_start"]) for n in shown.values()] == [
        (False, True),
        (False, False),
    ]


def test_a_change_answers_with_the_addresses_a_get_shows(svc, guest_on_a_network: Guest):
    guest = guest_on_a_network
    guest.wait_for("a lease", lambda: svc.get(nic_path(guest)).json()["ips"], timeout=60)
    changed = patch(svc, guest, {"linked": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["vnic"]["ips"] == svc.get(nic_path(guest)).json()["ips"] != []


def test_the_definition_of_a_new_vm_has_its_free_slots(svc, made, networks, testhost):
    net = networks.create()
    vm = made(net.name, start=False, hotplug_slots=2)
    root = etree.fromstring(testhost.conn.lookupByName(vm["name"]).XMLDesc(0).encode())
    ports = root.xpath("devices/controller[@model='pcie-root-port']/@index")
    buses = {int(b, 16) for b in root.xpath("devices/*/address[@type='pci']/@bus")}
    assert len([p for p in ports if int(p) not in buses]) == 2
    assert vm["hotplug_slots_free"] == 2
