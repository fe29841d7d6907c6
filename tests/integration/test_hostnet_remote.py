"""Host network changes on a host reached over SSH (issue 18, item 5 and test 2): a QEMU guest
with Debian's generic kernel (tests/harness/remote_guest.py), registered by its libvirt URI
like any remote host. plugboard reads it, plans against it, and ships its agent there over
SSH; the rollback timer runs in the guest. VLANs and bonds: this machine's kernel has neither.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import libvirt
import pytest

from tests.harness.ports import free_port
from tests.harness.remote_guest import RemoteGuest
from tests.harness.service import local_only
from tests.unit.test_api_auth import assert_problem

BOND = {"name": "pbbond0", "type": "bond",
        "bond": {"mode": "balance-rr", "miimon": 100, "ports": ["eth1", "eth2"]}}  # fmt: skip
VLAN = {"name": "pbbond0.42", "type": "vlan", "vlan": {"base": "pbbond0", "id": 42},
        "ipv4": {"addresses": ["192.0.2.42/24"]}}  # fmt: skip


def loopback_or_local(uri: str) -> libvirt.virConnect:
    """The tests' connector, and SSH to 127.0.0.1 (the guest's port forward) besides."""
    parts = urlsplit(uri)
    if parts.scheme.startswith("qemu+") and parts.hostname == "127.0.0.1":
        return libvirt.open(uri)
    return local_only(uri)


@pytest.fixture(scope="module")
def remote_guest(tmp_path_factory) -> Iterator[RemoteGuest]:
    guest = RemoteGuest(tmp_path_factory.mktemp("remote-guest")).start()
    print(f"remote guest: boot to SSH {guest.boot_seconds:.1f} s")
    yield guest
    guest.stop()


@pytest.fixture
def rsvc(services, remote_guest: RemoteGuest):
    # a read over SSH runs Python in a guest under TCG: seconds, not milliseconds
    service = services.make(connector=loopback_or_local, host_call_timeout=120.0)
    created = service.post("/hosts", json={"name": "rg", "uri": remote_guest.uri,
                                           "domain_type": "qemu"})  # fmt: skip
    assert created.status_code == 201, created.text
    return service


def wait_for_state(service, change_id: str, states: tuple[str, ...], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        change = service.get(f"/hosts/rg/network-state/changes/{change_id}").json()
        if change["state"] in states or time.monotonic() > deadline:
            return change
        time.sleep(1)


def bond_and_vlan(guest: RemoteGuest) -> None:
    """The bond and its VLAN as test (a) leaves them, made with ip when it did not run."""
    if "pbbond0" in guest.links():
        return
    for cmd in ("ip link add pbbond0 type bond mode balance-rr miimon 100",
                "ip link set eth1 down", "ip link set eth1 master pbbond0",
                "ip link set eth2 down", "ip link set eth2 master pbbond0",
                "ip link set pbbond0 up",
                "ip link add link pbbond0 name pbbond0.42 type vlan id 42",
                "ip addr add 192.0.2.42/24 dev pbbond0.42",
                "ip link set pbbond0.42 up"):  # fmt: skip
        guest.ssh(*cmd.split())


def guest_state(guest: RemoteGuest) -> dict:
    """Links (without their counters), addresses and routes of the guest."""
    links = json.loads(guest.ssh("ip", "-j", "-d", "link").stdout)
    for link in links:
        link.pop("stats64", None)
    addresses = json.loads(guest.ssh("ip", "-j", "addr").stdout)
    for a in addresses:  # lifetimes count down by themselves
        for info in a.get("addr_info", []):
            info.pop("valid_life_time", None)
            info.pop("preferred_life_time", None)
    return {"link": links, "addr": addresses,
            "route": json.loads(guest.ssh("ip", "-j", "route").stdout)}  # fmt: skip


def still_state(guest: RemoteGuest, timeout: float = 30) -> dict:
    """`guest_state` once the guest holds still: no IPv6 address still tentative (a link just
    brought up checks its link-local address for duplicates for about a second)."""
    deadline = time.monotonic() + timeout
    while True:
        state = guest_state(guest)
        if '"tentative": true' not in json.dumps(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def test_remote_vlan_on_a_bond_applied_and_confirmed(rsvc, remote_guest: RemoteGuest):
    state = rsvc.get("/hosts/rg/network-state")
    assert state.status_code == 200, state.text
    assert {"eth1", "eth2"} <= {i["name"] for i in state.json()["state"]["interfaces"]}
    started = time.monotonic()
    applied = rsvc.post("/hosts/rg/network-state",
                        json={"interfaces": [BOND, VLAN], "rollback_timeout": 300})  # fmt: skip
    assert applied.status_code == 202, applied.text
    print(f"apply over SSH: {time.monotonic() - started:.1f} s")
    assert applied.json()["state"] == "waiting"
    confirmed = rsvc.post("/hosts/rg/network-state/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "confirmed"
    # written in the guest, where its etc dir (the service's, a tmpfs there) is
    target = rsvc.settings.hostnet_etc_dir.replace("{host}", "rg") + "/interfaces.d/plugboard"
    assert confirmed.json()["persisted"] == target, confirmed.json()
    assert not [w for w in confirmed.json()["warnings"] if "not written" in w]
    text = remote_guest.ssh("cat", target).stdout
    assert (
        "auto pbbond0\niface pbbond0 inet manual\n    bond-slaves eth1 eth2\n"
        "    bond-mode balance-rr\n    bond-miimon 100\n"
    ) in text
    assert "iface pbbond0.42 inet static\n    vlan-raw-device pbbond0\n" in text
    assert "    address 192.0.2.42/24\n" in text

    links = remote_guest.links()
    bond = links["pbbond0"]["linkinfo"]
    assert (bond["info_kind"], bond["info_data"]["mode"]) == ("bond", "balance-rr")
    assert {n for n, link in links.items() if link.get("master") == "pbbond0"} == {"eth1", "eth2"}
    vlan = links["pbbond0.42"]
    assert (vlan["link"], vlan["linkinfo"]["info_data"]["id"]) == ("pbbond0", 42)
    assert "192.0.2.42/24" in remote_guest.ssh("ip", "-br", "addr", "show", "pbbond0.42").stdout


def test_remote_bond_mode_change_without_confirmation_is_rolled_back(
    rsvc, remote_guest: RemoteGuest
):
    bond_and_vlan(remote_guest)
    before = still_state(remote_guest)
    changed = BOND | {"bond": BOND["bond"] | {"mode": "active-backup"}}
    applied = rsvc.post("/hosts/rg/network-state",
                        json={"interfaces": [changed], "rollback_timeout": 5})  # fmt: skip
    assert applied.status_code == 202, applied.text
    mode = remote_guest.links()["pbbond0"]["linkinfo"]["info_data"]["mode"]
    change = wait_for_state(rsvc, applied.json()["id"], ("rolled-back", "confirmed"), 90)
    assert change["state"] == "rolled-back", change
    assert mode == "active-backup"  # it was applied while it waited
    assert still_state(remote_guest) == before


def test_remote_host_unreachable_is_a_clear_error_and_changes_nothing(
    services, remote_guest: RemoteGuest
):
    service = services.make(connector=loopback_or_local, host_call_timeout=60.0)
    refused = remote_guest.uri.replace(f":{remote_guest.port}/", f":{free_port()}/")
    service.post("/hosts", json={"name": "rg", "uri": refused, "domain_type": "qemu"})
    before = guest_state(remote_guest)
    answer = service.post("/hosts/rg/network-state", json={"interfaces": [VLAN | {"name": "x"}]})
    assert_problem(answer, 502, "HOST_UNREACHABLE")
    assert guest_state(remote_guest) == before
