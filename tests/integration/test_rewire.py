"""The bulk re-wire (issue 19, item 4) on a real test host with booted guests: every vNIC on
one network moved to another as an operation, VMs in parallel, a VM rolled back alone, the
guests' leases on the new network verified; refusals before anything changes, the dry run,
the CLI, and the policy."""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.integration.test_truth import poll
from tests.integration.test_vnics import xml_snapshot
from tests.unit.test_api_auth import assert_problem

VM = "/hosts/th/vms"


def wired(svc, guest) -> dict[str, str]:
    """Each vNIC's network, as plugboard reads it from libvirt."""
    return {n["name"]: n["source"]["network"] for n in svc.get(f"{VM}/{guest.name}/nics").json()}


def live_networks(guest, nics=("nic1", "nic2")) -> list[str]:
    """Each card's network in the running VM's XML (libvirt's own word)."""
    return [guest.interface_xml(f"ua-{nic}").find("source").get("network") for nic in nics]


def slots(svc, guest) -> dict[str, str]:
    return {n["name"]: n["pci_address"] for n in svc.get(f"{VM}/{guest.name}/nics").json()}


def settled(guest, count: int) -> None:
    """Wait until the guest holds a lease on each of its `count` cards, its DHCP server's MAC
    noted (the guest's nicd watches that MAC to notice a new network behind a card: a card
    moved while its first lease is being bound would be noted with the new network's MAC, and
    the guest would keep its old address)."""
    guest.wait_for(
        "a lease on each card",
        lambda: guest.run("ls /run/net/ | grep -c '[.]lease$'").output.strip() == str(count),
        timeout=60,
    )


def finished(svc, operation_id: str, timeout: float = 150.0) -> dict:
    path = f"/operations/{operation_id}"
    return poll("the operation to finish", lambda: (o := svc.get(path).json())["state"]
                == "finished" and o, timeout=timeout)  # fmt: skip


def stream(svc, operation_id: str) -> list[tuple[str, dict]]:
    """The operation's Server-Sent Events, read to their end (the operation finished)."""
    events: list[tuple[str, dict]] = []
    path = f"/api/v1/operations/{operation_id}/events"
    with svc.client.stream("GET", path, headers=svc.auth) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def results(operation: dict) -> dict[tuple[str, str], dict]:
    return {(r["vm"], r["vnic"]): r for r in operation["results"]}


def test_four_guests_are_rewired_in_parallel_keep_their_slots_and_lease_on_the_new_network(
    svc, guests: GuestFactory, networks: NetworkFactory
):
    # the case: 12 vNICs on 4 running guests
    a, b = networks.create(persistent=True), networks.create(persistent=True)
    booted = [guests.boot(a.name, a.name, a.name, persistent=True) for _ in range(4)]
    for guest in booted:
        settled(guest, 3)
    nics = ["nic1", "nic2", "nic3"]
    before = {g.name: slots(svc, g) for g in booted}
    started = time.monotonic()

    made = svc.post("/hosts/th/rewire", json={"from": a.name, "to": b.name, "verify": "lease"})
    assert made.status_code == 202, made.text
    operation = made.json()
    assert made.headers["location"] == f"/api/v1/operations/{operation['id']}"
    assert (operation["total"], operation["params"]["verify"]) == (12, "lease")

    events = stream(svc, operation["id"])  # until the operation is finished
    took = time.monotonic() - started
    assert [kind for kind, _ in events][-1] == "finished"
    dones = [data["done"] for _, data in events]
    assert dones == sorted(dones) and dones[-1] == 12
    final = svc.get(f"/operations/{operation['id']}").json()
    assert (final["state"], final["done"], final["total"], final["failed"]) == (
        "finished", 12, 12, 0
    )  # fmt: skip
    assert final == events[-1][1]
    for guest in booted:
        assert wired(svc, guest) == dict.fromkeys(nics, b.name)
        assert live_networks(guest, nics) == [b.name] * 3
        assert slots(svc, guest) == before[guest.name]  # each card kept its PCI slot
        for nic in nics:
            result = results(final)[(guest.name, nic)]
            assert (result["outcome"], result["verify"], result["network"]) == (
                "ok",
                "lease",
                b.name,
            )
            assert result["plan"] == ["live-update"] and result["error"] is None
            assert result["slot"] == result["slot_before"] == before[guest.name][nic]
            assert ipaddress.ip_address(result["lease_ip"]) in b.subnet
            # the guest itself has that address on the new network
            address = guest.wait_for_address(result["mac"], b.subnet)
            assert str(address.ip) == result["lease_ip"]
    print(f"12 vNICs of 4 guests re-wired and leased on the new network in {took:.1f} s")
    # each vNIC's change is in the audit log, with the operation
    logged = svc.get("/events", params={"action": "(rewire)", "limit": 50}).json()["items"]
    assert len([e for e in logged if operation["id"] in (e["detail"] or "")]) == 12


def test_a_vnic_that_fails_rolls_its_vm_back_alone(
    svc, guests: GuestFactory, networks: NetworkFactory, testhost: TestHost
):
    a, b = networks.create(persistent=True), networks.create(persistent=True)
    broken, fine = (guests.boot(a.name, a.name, persistent=True) for _ in range(2))
    # libvirt moves a running card's tap from one bridge to the other by its name: a tap
    # renamed behind libvirt's back cannot be moved (this one vNIC's update is refused).
    tap = svc.get(f"{VM}/{broken.name}/nics/nic2").json()["target_dev"]
    testhost.run("ip", "link", "set", tap, "down")
    testhost.run("ip", "link", "set", tap, "name", f"pbx{tap[-8:]}")

    made = svc.post("/hosts/th/rewire", json={"from": a.name, "to": b.name})
    assert made.status_code == 202, made.text
    final = finished(svc, made.json()["id"])
    assert (final["done"], final["total"], final["failed"]) == (4, 4, 2)
    by_vnic = results(final)
    nic1, nic2 = by_vnic[(broken.name, "nic1")], by_vnic[(broken.name, "nic2")]
    assert (nic1["outcome"], nic1["network"], nic1["plan"]) == (
        "rolled-back",
        a.name,
        ["live-update"],
    )
    assert (nic2["outcome"], nic2["network"]) == ("failed", a.name)
    assert nic2["error"]["code"] == "UPDATE_VNIC_FAILED", nic2
    assert wired(svc, broken) == {"nic1": a.name, "nic2": a.name}
    assert live_networks(broken) == [a.name, a.name]
    # the other VM is not touched by that
    assert [by_vnic[(fine.name, n)]["outcome"] for n in ("nic1", "nic2")] == ["ok", "ok"]
    assert wired(svc, fine) == {"nic1": b.name, "nic2": b.name}
    assert live_networks(fine) == [b.name, b.name]
    # the audit log has the move and the move back of nic1, and nic2's failure
    logged = svc.get("/events", params={"target": f"hosts/th/vms/{broken.name}"}).json()
    details = [e["detail"] or "" for e in logged["items"] if "(rewire)" in e["action"]]
    assert sum(f"re-wired {a.name} → {b.name}" in d for d in details) == 1, details
    assert sum(f"re-wired {b.name} → {a.name}" in d for d in details) == 1, details
    assert any("failed" in d and "nic2" in d for d in details), details


def test_a_stopped_or_missing_network_is_refused_before_anything_changes(
    svc, guests: GuestFactory, networks: NetworkFactory
):
    a, stopped = networks.create(persistent=True), networks.create(persistent=True)
    stopped.net.destroy()
    guest = guests.boot(a.name, a.name, persistent=True)
    before = xml_snapshot(guest.dom)

    assert_problem(
        svc.post("/hosts/th/rewire", json={"from": a.name, "to": stopped.name}),
        409,
        "NETWORK_INACTIVE",
    )
    missing = svc.post("/hosts/th/rewire", json={"from": a.name, "to": "pbtest-missing"})
    assert_problem(missing, 404, "NETWORK_NOT_FOUND")
    stopped.net.create()
    gone_from = svc.post("/hosts/th/rewire", json={"from": "pbtest-missing", "to": stopped.name})
    assert_problem(gone_from, 404, "NETWORK_NOT_FOUND")
    assert xml_snapshot(guest.dom) == before
    assert wired(svc, guest) == {"nic1": a.name, "nic2": a.name}


def test_a_dry_run_plans_each_vnic_and_changes_nothing(
    svc, guests: GuestFactory, networks: NetworkFactory
):
    a, b = networks.create(persistent=True), networks.create(persistent=True)
    guest = guests.boot(a.name, a.name, persistent=True)
    before, pci = xml_snapshot(guest.dom), slots(svc, guest)

    planned = svc.post("/hosts/th/rewire", json={"from": a.name, "to": b.name, "dry_run": True})
    assert planned.status_code == 200, planned.text
    operation = planned.json()
    assert (operation["state"], operation["total"], operation["failed"]) == ("finished", 2, 0)
    for result in operation["results"]:
        assert (result["outcome"], result["plan"]) == ("planned", ["live-update"])
        assert (result["network"], result["verify"], result["error"]) == (a.name, None, None)
        assert result["slot"] == pci[result["vnic"]]
    assert xml_snapshot(guest.dom) == before
    assert wired(svc, guest) == {"nic1": a.name, "nic2": a.name}
    assert svc.get(f"/operations/{operation['id']}").json() == operation


def test_cli_net_rewire_shows_its_progress_and_prints_the_operation(
    served, guests: GuestFactory, networks: NetworkFactory, monkeypatch: pytest.MonkeyPatch
):
    a, b = networks.create(persistent=True), networks.create(persistent=True)
    guest = guests.boot(a.name, a.name, persistent=True)
    settled(guest, 2)
    # rich draws its progress bar for a terminal: TTY_COMPATIBLE=1 says stderr is one
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    done = served.cli("net-rewire", a.name, b.name, "--host", "th", "--verify", "lease")
    assert done.returncode == 0, done.stderr
    assert "2/2" in done.stderr, done.stderr  # the bar's last frame
    assert f"2/2 vNICs re-wired from {a.name} to {b.name}, 0 failed" in done.stdout
    assert wired(served, guest) == {"nic1": b.name, "nic2": b.name}

    monkeypatch.delenv("TTY_COMPATIBLE")
    back = served.cli(
        "net-rewire", b.name, a.name, "--vm", guest.name, "--host", "th", "-o", "json"
    )
    assert back.returncode == 0, back.stderr
    operation = json.loads(back.stdout)
    assert (operation["state"], operation["done"], operation["total"]) == ("finished", 2, 2)
    assert {r["outcome"] for r in operation["results"]} == {"ok"}
    assert wired(served, guest) == {"nic1": a.name, "nic2": a.name}


def user_token(svc, name: str, *grants: tuple[str, str]) -> dict[str, str]:
    assert svc.post("/users", json={"username": name}).status_code == 201
    for role, obj in grants:
        given = svc.post("/grants", json={"user": name, "role": role, "object": obj})
        assert given.status_code == 201, given.text
    token = svc.post("/tokens", json={"name": f"{name}-token", "user": name}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_user_rewires_only_the_vms_they_operate(
    svc, guests: GuestFactory, networks: NetworkFactory
):
    a, b = networks.create(persistent=True), networks.create(persistent=True)
    guest = guests.boot(a.name, a.name, persistent=True)
    vm, net_b = f"hosts/th/vms/{guest.name}", f"hosts/th/networks/{b.name}"
    before = xml_snapshot(guest.dom)
    body = {"from": a.name, "to": b.name, "vms": [guest.name]}

    def post(headers: dict[str, str], body: dict = body):
        return svc.client.post("/api/v1/hosts/th/rewire", json=body, headers=headers)

    # may use b, but may not see the VM: as if it were not there
    stranger = user_token(svc, "stranger", ("network-user", net_b))
    assert_problem(post(stranger), 404, "VM_NOT_FOUND")
    # may see the VM, not operate it: 403, named or found by the re-wire of every VM
    viewer = user_token(svc, "viewer", ("network-user", net_b), ("vm-viewer", vm))
    assert_problem(post(viewer), 403, "PERMISSION_DENIED")
    assert_problem(post(viewer, {"from": a.name, "to": b.name}), 403, "PERMISSION_DENIED")
    # may operate the VM, not use b
    operator = user_token(svc, "operator", ("vm-operator", vm))
    assert_problem(post(operator), 403, "PERMISSION_DENIED")
    assert xml_snapshot(guest.dom) == before

    allowed = user_token(svc, "allowed", ("vm-operator", vm), ("network-user", net_b))
    made = post(allowed)
    assert made.status_code == 202, made.text
    operation_id = made.json()["id"]
    path = f"/api/v1/operations/{operation_id}"
    final = poll("the operation to finish", lambda: (o := svc.client.get(
        path, headers=allowed).json())["state"] == "finished" and o, timeout=120)  # fmt: skip
    assert (final["done"], final["failed"], final["user"]) == (2, 0, "allowed")
    assert wired(svc, guest) == {"nic1": b.name, "nic2": b.name}
    # the operation is its creator's (and an admin's): for others it is not there
    assert_problem(svc.client.get(path, headers=viewer), 404, "OPERATION_NOT_FOUND")
    assert svc.client.get(path, headers=svc.auth).status_code == 200
