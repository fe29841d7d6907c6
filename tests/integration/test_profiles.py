"""vNIC profiles (issue 19, items 1, 2 and 5) on a real test host with running VMs: a vNIC wired
through a profile shows it (and libvirt's XML keeps its name); a profile changed while VMs run
reaches each of their vNICs live, in its slot, and a vNIC that fails is undone alone and
reported; a profile naming a network the VM's host lacks is refused and changes nothing; a
profile in use is not deleted."""

from __future__ import annotations

import itertools
import json

from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.guest import NicSpec
from tests.integration.test_mirroring import Capture
from tests.integration.test_rewire import live_networks, slots, wired
from tests.unit.test_api_auth import assert_problem

VM = "/hosts/th/vms"
_serial = itertools.count(1)


def make_profile(svc, source: dict, **more) -> str:
    name = f"pbprof{next(_serial)}"
    made = svc.post("/profiles", json={"name": name, "source": source} | more)
    assert made.status_code == 201, made.text
    return name


def on_network(name: str) -> dict:
    return {"type": "network", "network": name}


def nic(svc, guest, name: str = "nic1") -> dict:
    found = svc.get(f"{VM}/{guest.name}/nics/{name}")
    assert found.status_code == 200, found.text
    return found.json()


def test_a_profile_change_reaches_each_running_vnic_live_and_a_failure_stays_alone(
    svc, guests: GuestFactory, networks: NetworkFactory, testhost: TestHost
):
    a, b = networks.create(), networks.create()
    profile = make_profile(svc, on_network(a.name), description="lab wiring")
    broken, *fine = (guests.boot(a.name, a.name, wait=False) for _ in range(3))
    for guest in (broken, *fine):
        for card in ("nic1", "nic2"):
            wired_through = svc.patch(f"{VM}/{guest.name}/nics/{card}", json={"profile": profile})
            assert wired_through.status_code == 200, wired_through.text
            # the profile sets what the vNIC has already: only plugboard's record changes
            assert [x["kind"] for x in wired_through.json()["plan"]] == ["config-only"]
            assert wired_through.json()["vnic"]["profile"] == profile
        # the name is kept in the VM's own metadata: virsh dumpxml shows it
        assert f'profile="{profile}"' in guest.dom.XMLDesc(0)
    before = {g.name: slots(svc, g) for g in (broken, *fine)}

    # a dry run: each vNIC's plan, and nothing changes (not even the profile)
    moved = {"source": on_network(b.name), "description": "lab wiring"}
    dry = svc.put(f"/profiles/{profile}", params={"dry_run": True}, json=moved)
    assert dry.status_code == 200, dry.text
    assert dry.json()["applied"] is False
    assert {(o["vm"], o["vnic"], o["outcome"], tuple(o["plan"])) for o in dry.json()["vnics"]} == {
        (g.name, n, "planned", ("live-update",)) for g in (broken, *fine) for n in ("nic1", "nic2")
    }
    assert svc.get(f"/profiles/{profile}").json()["source"]["network"] == a.name
    assert all(wired(svc, g) == {"nic1": a.name, "nic2": a.name} for g in (broken, *fine))

    # libvirt moves a running card's tap by its name: one renamed behind its back cannot move
    tap = nic(svc, broken, "nic2")["target_dev"]
    testhost.run("ip", "link", "set", tap, "down")
    testhost.run("ip", "link", "set", tap, "name", f"pbx{tap[-8:]}")

    changed = svc.put(f"/profiles/{profile}", json=moved)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["applied"] is True and body["profile"]["source"]["network"] == b.name
    outcome = {(o["vm"], o["vnic"]): o for o in body["vnics"]}
    assert len(outcome) == 6 and body["failed"] == 1
    failed = outcome[(broken.name, "nic2")]
    assert (failed["outcome"], failed["error"]["code"]) == ("failed", "UPDATE_VNIC_FAILED")
    # each vNIC goes alone: the broken VM's other card moved, the other VMs' cards too
    for guest in fine:
        assert wired(svc, guest) == {"nic1": b.name, "nic2": b.name}
        assert live_networks(guest) == [b.name, b.name]
        assert slots(svc, guest) == before[guest.name]  # live: each card kept its slot
    for key, result in outcome.items():
        if key != (broken.name, "nic2"):
            assert (result["outcome"], result["plan"]) == ("ok", ["live-update"]), result
            assert result["pci_address"] == before[key[0]][key[1]]
    assert wired(svc, broken) == {"nic1": b.name, "nic2": a.name}
    assert live_networks(broken) == [b.name, a.name]
    assert nic(svc, broken, "nic2")["profile"] == profile  # still the profile's, not yet as it

    # the tap back under its name: the same change again brings the rest, and only it
    testhost.run("ip", "link", "set", f"pbx{tap[-8:]}", "name", tap)
    again = svc.put(f"/profiles/{profile}", json=moved).json()
    assert {(o["vm"], o["vnic"]): o["outcome"] for o in again["vnics"]} == {
        key: ("ok" if key == (broken.name, "nic2") else "unchanged") for key in outcome
    }
    assert live_networks(broken) == [b.name, b.name]
    # each vNIC's change is in the audit log, with the profile
    logged = svc.get("/events", params={"action": "(profile)", "limit": 50}).json()["items"]
    assert len([e for e in logged if f"profile {profile} changed" in (e["detail"] or "")]) == 7


def test_a_vnic_added_through_a_profile_and_the_refusals_that_change_nothing(
    svc, guests: GuestFactory, networks: NetworkFactory, testhost: TestHost
):
    a, b = networks.create(), networks.create()
    guest = guests.boot(a.name, wait=False)
    profile = make_profile(svc, on_network(a.name))

    # the dry run of wiring a vNIC through a profile shows what the profile expands to
    other = make_profile(svc, {**on_network(b.name), "portgroup": None})
    dry = svc.patch(
        f"{VM}/{guest.name}/nics/nic1", params={"dry_run": True}, json={"profile": other}
    )
    assert dry.status_code == 200, dry.text
    assert [x["kind"] for x in dry.json()["plan"]] == ["live-update"]
    shown = dry.json()["vnic"]
    assert (shown["profile"], shown["source"]["network"]) == (other, b.name)
    assert live_networks(guest, ["nic1"]) == [a.name] and nic(svc, guest)["profile"] is None

    # a new vNIC through the profile: hot-plugged on its network
    asked = {"name": "nic2", "profile": profile}
    added = svc.post(f"{VM}/{guest.name}/nics", json=asked)
    assert added.status_code == 201, added.text
    assert (added.json()["vnic"]["profile"], added.json()["vnic"]["source"]["network"]) == (
        profile,
        a.name,
    )
    assert live_networks(guest) == [a.name, a.name]

    # a profile naming a network this host does not have: 422, and nothing changed
    elsewhere = make_profile(svc, on_network("pb-nowhere"))
    before = nic(svc, guest)
    refused = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"profile": elsewhere})
    body = assert_problem(refused, 422, "NETWORK_NOT_FOUND")
    assert elsewhere in body["detail"] and "pb-nowhere" in body["detail"]
    assert nic(svc, guest) == before
    refused = svc.post(f"{VM}/{guest.name}/nics", json={"name": "nic3", "profile": elsewhere})
    assert_problem(refused, 422, "NETWORK_NOT_FOUND")
    assert sorted(n["name"] for n in svc.get(f"{VM}/{guest.name}/nics").json()) == [
        "nic1",
        "nic2",
    ]
    # a profile and a source of the vNIC's own: one or the other
    both = {"profile": profile, "source": on_network(a.name)}
    body = assert_problem(
        svc.patch(f"{VM}/{guest.name}/nics/nic1", json=both), 422, "VALIDATION_ERROR"
    )
    assert body["detail"].startswith(f"profile '{profile}' sets source")
    missing = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"profile": "pb-none"})
    assert_problem(missing, 404, "PROFILE_NOT_FOUND")
    assert nic(svc, guest) == before

    # a profile in use is not deleted: 409 lists its vNICs
    in_use = assert_problem(svc.delete(f"/profiles/{profile}"), 409, "PROFILE_IN_USE")
    assert in_use["vnics"] == [{"host": "th", "vm": guest.name, "vnic": "nic2"}]
    assert svc.get(f"/profiles/{profile}").status_code == 200
    # wired on its own (a source of its own), the vNIC leaves the profile; then it goes
    own = svc.patch(f"{VM}/{guest.name}/nics/nic2", json={"source": on_network(a.name)})
    assert own.status_code == 200, own.text
    assert own.json()["vnic"]["profile"] is None
    assert [x["kind"] for x in own.json()["plan"]] == ["config-only"]
    assert f'profile="{profile}"' not in guest.dom.XMLDesc(0)
    assert svc.delete(f"/profiles/{profile}").status_code == 204
    assert_problem(svc.get(f"/profiles/{profile}"), 404, "PROFILE_NOT_FOUND")
    # names are one profile's: a second one under the same name is refused
    again = {"name": elsewhere, "source": on_network(a.name)}
    assert_problem(svc.post("/profiles", json=again), 409, "PROFILE_EXISTS")


def test_a_profile_on_open_vswitch_retags_its_running_vnics_live(
    svc, guests: GuestFactory, testhost: TestHost, ovs_bridge: str
):
    profile = make_profile(svc, {"type": "ovs", "bridge": ovs_bridge, "vlan": 100})
    booted = [
        guests.boot(nics=[NicSpec(None, "ua-nic1", kind="ovs", bridge=ovs_bridge, vlan=100)],
                    wait=False)
        for _ in range(3)
    ]  # fmt: skip
    for guest in booted:
        wired_through = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"profile": profile})
        assert [x["kind"] for x in wired_through.json()["plan"]] == ["config-only"]
    before = {g.name: nic(svc, g) for g in booted}

    retag = {"source": {"type": "ovs", "bridge": ovs_bridge, "vlan": 200}}
    changed = svc.put(f"/profiles/{profile}", json=retag)
    assert changed.status_code == 200, changed.text
    assert [(o["outcome"], o["plan"]) for o in changed.json()["vnics"]] == [
        ("ok", ["live-update"])
    ] * 3
    assert changed.json()["profile"]["source"]["vlan"] == 200
    for guest in booted:
        now = nic(svc, guest)
        assert now["source"]["vlan"] == 200 and now["profile"] == profile
        assert now["pci_address"] == before[guest.name]["pci_address"]
        tap = before[guest.name]["target_dev"]
        assert now["target_dev"] == tap  # the same card and port, retagged
        assert testhost.vsctl("get", "port", tap, "tag").strip() == "200"


def test_the_cli_creates_a_profile_wires_a_vnic_through_it_and_changes_it(
    served, guests: GuestFactory, networks: NetworkFactory
):
    a, b = networks.create(), networks.create()
    guest = guests.boot(a.name, wait=False)
    name = f"pbprof{next(_serial)}"
    made = served.cli("profile-create", name, "--network", a.name, "--description", "lab",
                      "--filter", "clean-traffic", "--filter-param", "IP=10.0.0.5")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert name in made.stdout and "clean-traffic" in made.stdout
    shown = json.loads(served.cli("profile-show", name, "-o", "json").stdout)
    assert shown["filter"] == {"name": "clean-traffic", "parameters": {"IP": "10.0.0.5"}}
    # the filter aside (the test host has no nwfilter rules to instantiate), as it is now
    plain = served.cli("profile-update", name, "--network", a.name)
    assert plain.returncode == 0, plain.stderr
    no_filter = served.put(f"/profiles/{name}", json={"source": on_network(a.name)})
    assert no_filter.status_code == 200, no_filter.text

    wired_through = served.cli("nic-set", guest.name, "nic1", "--profile", name, "--host", "th")
    assert wired_through.returncode == 0, wired_through.stderr
    assert "config-only" in wired_through.stdout
    both = served.cli("nic-set", guest.name, "nic1", "--profile", name, "--network", b.name,
                      "--host", "th")  # fmt: skip
    assert both.returncode != 0 and "not both" in both.stderr

    dry = served.cli("profile-update", name, "--network", b.name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "live-update" in dry.stdout and "nothing changed" in dry.stdout
    assert live_networks(guest, ["nic1"]) == [a.name]
    moved = served.cli("profile-update", name, "--network", b.name, "-o", "json")
    assert moved.returncode == 0, moved.stderr
    change = json.loads(moved.stdout)
    assert [(o["vnic"], o["outcome"]) for o in change["vnics"]] == [("nic1", "ok")]
    assert live_networks(guest, ["nic1"]) == [b.name]

    refused = served.cli("profile-delete", name)
    assert refused.returncode != 0 and "PROFILE_IN_USE" in refused.stderr + refused.stdout
    listed = served.cli("profile-list")
    assert listed.returncode == 0 and name in listed.stdout


SPOOFED = "52:54:00:66:66:66"


def spoofing(guest, spoof: bool) -> None:
    """The guest's eth0 with another MAC than its card's (or back to its own)."""
    mac = SPOOFED if spoof else guest.macs()[0]
    guest.check(f"ip link set eth0 down; ip link set eth0 address {mac}; ip link set eth0 up")


def frames_from_spoofed_mac(testhost: TestHost, bridge: str, guest, target: str) -> int:
    """Frames with the spoofed source MAC that reach the network's bridge while the guest
    pings `target` (ARP and ICMP: its kernel sends with the MAC its eth0 has)."""
    capture = Capture(testhost, bridge, f"ether src {SPOOFED}")
    try:
        guest.run(f"ping -c 3 -i 0.3 -W 1 {target}", timeout=20)
    finally:
        lines = capture.stop(enough=1, within=2)
    return len(lines)


def test_a_clean_traffic_filter_through_a_profile_stops_a_spoofed_mac(
    svc, guests: GuestFactory, networks: NetworkFactory, testhost: TestHost
):
    net = networks.create()
    peer, guest = guests.boot(net.name), guests.boot(net.name)
    target = str(peer.wait_for_address(peer.macs()[0], net.subnet).ip)
    guest.wait_for_address(guest.macs()[0], net.subnet)

    # without a filter, a guest can send from a MAC that is not its card's
    spoofing(guest, True)
    assert frames_from_spoofed_mac(testhost, net.bridge, guest, target) > 0
    spoofing(guest, False)

    profile = make_profile(svc, on_network(net.name), filter={"name": "clean-traffic"})
    wired_through = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"profile": profile})
    assert wired_through.status_code == 200, wired_through.text
    assert [x["kind"] for x in wired_through.json()["plan"]] == ["live-update"]
    assert wired_through.json()["vnic"]["filter"] == {"name": "clean-traffic", "parameters": {}}
    live = guest.interface_xml("ua-nic1").find("filterref")
    assert live is not None and live.get("filter") == "clean-traffic"
    # its own MAC still works; a spoofed one gets nothing onto the network
    assert guest.run(f"ping -c 2 -W 2 {target}", timeout=30).status == 0
    spoofing(guest, True)
    assert frames_from_spoofed_mac(testhost, net.bridge, guest, target) == 0
    assert guest.run(f"ping -c 2 -W 1 {target}", timeout=20).status != 0  # inside the guest too
    spoofing(guest, False)
