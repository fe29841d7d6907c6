"""What plugboard reports is what the VM has, through faults and everyday events: a failed
undo, a late hot-unplug, a network restart, changes made with virsh, libvirtd restarting
during a hot-unplug, and a second service on one SQLite store."""

from __future__ import annotations

import subprocess
import threading
import time

import libvirt
import pytest
from lxml import etree

from plugboard.engine.executor import unwatch_steps, watch_steps
from plugboard.store import StoreInUse
from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.integration.test_vnics import xml_snapshot
from tests.unit.test_api_auth import assert_problem

VM = "/hosts/th/vms"


def poll(what: str, predicate, timeout: float = 60.0):
    """Wait until `predicate()` is truthy (its value), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def virsh(host: TestHost, *args: str) -> None:
    subprocess.run(["virsh", "-q", "-c", host.uri, *args], check=True, capture_output=True)


def events(svc, target: str) -> list[dict]:
    return svc.get("/events", params={"target": target, "limit": 50}).json()["items"]


@pytest.fixture
def quick(services, testhost: TestHost):
    """A service with the test host as `th` that reads every host each second."""
    svc = services.make(reconcile_interval=1.0, hotunplug_timeout=1.0)
    assert svc.post("/hosts", json={"name": "th", "uri": testhost.uri}).status_code == 201
    return svc


def test_a_failed_undo_is_reported_and_marks_the_vnic_until_a_change_repairs_it(
    quick, guests: GuestFactory, networks: NetworkFactory, testhost: TestHost
):
    # The new card's network is active without its bridge: libvirt refuses the plug.
    old, broken = networks.create(persistent=True), networks.create(persistent=True)
    testhost.run("ip", "link", "delete", broken.bridge)
    guest = guests.boot(old.name, persistent=True)
    path = f"{VM}/{guest.name}/nics/nic1"
    mac = quick.get(path).json()["mac"]

    def sabotage(where: str) -> None:  # the old card's network goes away mid-change
        if where == "after:unplug-config":
            old.net.destroy()

    watch_steps(sabotage)
    try:
        body = {"mac": "52:54:00:fb:00:01", "source": {"type": "network", "network": broken.name}}
        failed = quick.patch(path, json=body)
    finally:
        unwatch_steps(sabotage)
    problem = assert_problem(failed, 409, "UPDATE_VNIC_FAILED")
    assert any("undo unplug" in e for e in problem["rollback_errors"]), problem
    shown = quick.get(path).json()  # not in the running VM, still in its definition
    assert shown["needs_attention"] and shown["mac"] == mac and shown["plugged"] is False

    old.net.create()
    repaired = quick.patch(path, json={"plugged": True})
    assert repaired.status_code == 200, repaired.text
    now = quick.get(path).json()
    assert (now["plugged"], now["needs_attention"]) == (True, None)
    guest.wait_for("the card back in the guest", lambda: guest.nic_by_mac(mac))


def test_a_card_the_guest_releases_after_the_timeout_becomes_unplugged(
    quick, guests: GuestFactory, networks: NetworkFactory
):
    net = networks.create()
    guest = guests.boot(net.name, persistent=True)
    path = f"{VM}/{guest.name}/nics/nic1"
    before = quick.get(path).json()
    guest.dom.suspend()  # a paused guest cannot acknowledge the unplug in time
    assert_problem(quick.patch(path, json={"plugged": False}), 504, "HOTUNPLUG_TIMEOUT")
    assert quick.get(path).json()["plugged"] is True
    guest.dom.resume()  # now it lets the card go: late

    late = poll("nic1 to be unplugged", lambda: (v := quick.get(path).json())["plugged"] is False
                and v)  # fmt: skip
    assert (late["mac"], late["pci_address"], late["source"]) == (
        before["mac"], before["pci_address"], before["source"]
    )  # fmt: skip
    # The reconciler handles libvirt's event: the log says so once it has made the definition
    # agree (the card may be seen gone from the running VM a moment before).
    poll("the log to say so", lambda: any("after the timeout" in (e["detail"] or "") for e in
         events(quick, f"hosts/th/vms/{guest.name}/nics/nic1")))  # fmt: skip
    inactive = etree.fromstring(guest.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    assert inactive.xpath("./devices/interface/mac/@address") == []  # the definition agrees
    plugged = quick.patch(path, json={"plugged": True})
    assert plugged.status_code == 200, plugged.text
    assert plugged.json()["vnic"]["pci_address"] == before["pci_address"]
    guest.wait_for("the card back", lambda: guest.nic_by_mac(before["mac"]))


def test_a_network_restart_gives_every_running_tap_back_its_bridge(
    quick, testhost: TestHost, guests: GuestFactory, networks: NetworkFactory
):
    net = networks.create(persistent=True)
    one, two = guests.boot(net.name), guests.boot(net.name)
    macs = {g: g.macs()[0] for g in (one, two)}
    for guest in (one, two):
        assert quick.get(f"{VM}/{guest.name}/nics/nic1").json()["connected"] is True
        guest.wait_for_address(macs[guest], net.subnet)

    def leases() -> dict[str, str]:
        found = quick.get(f"/hosts/th/networks/{net.name}/leases").json()
        return {lease["mac"]: lease["expiry"] for lease in found}

    expiry = poll("both leases", lambda: (e := leases()) and all(m in e for m in macs.values())
                  and e)  # fmt: skip
    time.sleep(1.1)  # expiry has whole seconds: a renewal is seen as a later one
    virsh(testhost, "net-destroy", net.name)
    poll("the vNICs to show their taps are off", lambda: all(
        quick.get(f"{VM}/{g.name}/nics/nic1").json()["connected"] is False
        for g in (one, two)))  # fmt: skip
    virsh(testhost, "net-start", net.name)

    for guest in (one, two):
        poll("the tap back", lambda g=guest: quick.get(
            f"{VM}/{g.name}/nics/nic1").json()["connected"])  # fmt: skip
    assert testhost.run("ip", "-o", "link", "show", "master", net.bridge).count("vnet") == 2
    # Each guest renews its lease (a later expiry than before), and reaches its gateway.
    poll("both leases renewed", lambda: all(
        (leases().get(mac) or "") > expiry[mac] for mac in macs.values()), timeout=60)  # fmt: skip
    gateway = next(net.subnet.hosts())
    for guest in (one, two):
        poll("the gateway", lambda g=guest: g.run(f"ping -c 1 -W 1 {gateway}").status == 0)
    lines = [e["detail"] for g in (one, two) for e in events(quick, f"hosts/th/vms/{g.name}")]
    assert sum("back on network" in (d or "") for d in lines) >= 2, lines


def test_changes_made_with_virsh_show_as_drift_within_a_second(
    quick, testhost: TestHost, guests: GuestFactory, networks: NetworkFactory
):
    net = networks.create()
    guest = guests.boot(net.name, net.name, persistent=True)
    nics = quick.get(f"{VM}/{guest.name}/nics").json()
    assert [n["drift"] for n in nics] == [None, None]  # first sight: as plugboard found them
    mac1, mac2 = (n["mac"] for n in nics)

    virsh(testhost, "domif-setlink", guest.name, mac1, "down")
    started = time.monotonic()
    nic1 = poll("nic1's drift", lambda: quick.get(f"{VM}/{guest.name}/nics/nic1").json()["drift"])
    assert time.monotonic() - started < 1.0
    assert "link set down outside plugboard" in nic1

    virsh(testhost, "detach-interface", guest.name, "network", "--mac", mac2, "--live", "--config")
    poll("nic2 gone", lambda: [n["name"] for n in quick.get(f"{VM}/{guest.name}/nics").json()]
         == ["nic1"], timeout=10)  # fmt: skip
    details = lambda: [e["detail"] or "" for e in events(quick, f"hosts/th/vms/{guest.name}")]  # noqa: E731
    poll("the audit log's word of it", lambda: any("nic2: removed" in d for d in details())
         and any("link set down" in d for d in details()), timeout=30)  # fmt: skip
    # Never overwritten: still down; a change that asks for it as it is takes it over.
    assert guest.nic_by_mac(mac1).carrier == 0
    taken = quick.patch(f"{VM}/{guest.name}/nics/nic1", json={"linked": False})
    assert taken.status_code == 200
    assert quick.get(f"{VM}/{guest.name}/nics/nic1").json()["drift"] is None


def test_libvirtd_restarting_during_a_hot_unplug_gives_502_then_recovery_finishes_it(
    services, more_testhosts, tmp_path
):
    host: TestHost = more_testhosts.up()
    svc = services.make()
    assert svc.post("/hosts", json={"name": "th", "uri": host.uri}).status_code == 201
    nets, guests = NetworkFactory(host), GuestFactory(host)
    try:
        net = nets.create()
        guest = guests.boot(net.name, persistent=True)
        path = f"{VM}/{guest.name}/nics/nic1"
        before = svc.get(path).json()
        answer: dict = {}

        def unplug() -> None:
            answer["response"] = svc.patch(path, json={"plugged": False})

        # The change is under way once its unplug step begins (its mark is in the VM's
        # metadata by then). Watching the metadata instead could miss it: a guest quick to
        # release the card ends the change between two looks.
        begun = threading.Event()

        def watch(where: str) -> None:
            if where == "before:unplug":
                begun.set()

        watch_steps(watch)
        try:
            thread = threading.Thread(target=unplug)
            thread.start()
            assert begun.wait(30), "the unplug did not begin within 30 s"
        finally:
            unwatch_steps(watch)
        host.restart_libvirtd()
        guests.refresh()
        nets.refresh()
        thread.join(120)
        response = answer["response"]
        assert response.status_code in (200, 502), response.text
        if response.status_code == 502:
            assert response.json()["code"] == "HOST_UNREACHABLE"
        now = poll("recovery", lambda: (v := svc.get(path)).status_code == 200 and
                   not v.json()["pending_operation"] and v.json(), timeout=90)  # fmt: skip
        assert now["needs_attention"] is None
        assert (now["mac"], now["plugged"]) in ((before["mac"], False), (before["mac"], True))
        live, persistent, _ = xml_snapshot(guest.dom)
        cards = etree.fromstring(live.encode()).xpath("./devices/interface/mac/@address")
        assert (before["mac"] in cards) == now["plugged"]
        assert "pending" not in persistent
        guest.wait_for("the guest to agree", lambda: (guest.nic_by_mac(before["mac"]) is not None)
                       == now["plugged"])  # fmt: skip
    finally:
        guests.cleanup()
        nets.cleanup()


def test_a_second_service_on_one_sqlite_store_is_refused(services):
    first = services.make()
    with pytest.raises(StoreInUse, match="PostgreSQL"):
        services.make(database_url=first.settings.database_url.get_secret_value())
    assert first.get("/hosts").status_code == 200
