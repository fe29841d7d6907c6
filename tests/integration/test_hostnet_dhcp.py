"""DHCP on a host interface (issue 18): the agent starts a DHCP client on the test host's end
of a wire whose far end is in a namespace of the test's own, where a dnsmasq hands out leases;
a rollback stops that client (by pid) and removes its address, a confirmation keeps both."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.harness import TestHost
from tests.integration.test_hostnet_apply import wait_for_state

RANGE = ipaddress.ip_network("10.94.0.0/24")
_serial = itertools.count(1)


@pytest.fixture
def wire(testhost: TestHost, tmp_path: Path):
    """A veth whose near end is in the test host and whose far end is in a namespace of its
    own, where a dnsmasq hands out leases in 10.94.0.0/24 (no router, no DNS server: nothing
    for the host but an address). As test_direct_ovs.py's `wire`."""
    n = next(_serial)
    near, far, ns = f"pbdh{n}", f"pbdhfar{n}", f"pbtest-dhcp{n}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        testhost.run("ip", "link", "add", near, "type", "veth", "peer", "name", far, "netns", ns)
        testhost.run("ip", "link", "set", near, "up")
        for args in (["addr", "add", "10.94.0.1/24", "dev", far], ["link", "set", far, "up"]):
            subprocess.run(["ip", "-n", ns, *args], check=True)
        log = (tmp_path / "dnsmasq.log").open("w")
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             f"--interface={far}", "--bind-interfaces", "--port=0", "--user=root",
             "--dhcp-range=10.94.0.10,10.94.0.50,1h", "--no-ping", "--dhcp-authoritative",
             "--dhcp-option=3", "--dhcp-option=6",
             f"--dhcp-leasefile={tmp_path / 'leases'}", "--log-dhcp", "--log-facility=-"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield near
        finally:
            dnsmasq.terminate()
            dnsmasq.wait(timeout=10)
            log.close()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)  # takes the veth pair along


def leased(testhost: TestHost, dev: str) -> list[dict]:
    """`dev`'s IPv4 addresses in the range, as `ip -j addr` shows them."""
    shown = json.loads(testhost.run("ip", "-j", "-4", "addr", "show", "dev", dev))
    found = [a for link in shown for a in link.get("addr_info", [])]
    return [a for a in found if ipaddress.ip_address(a["local"]) in RANGE]


def alive(pid: int) -> bool:
    try:
        return b"dhcp" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def apply_dhcp(svc, dev: str, timeout: int) -> dict:
    asked = {"interfaces": [{"name": dev, "type": "ethernet", "ipv4": {"dhcp": True}}],
             "rollback_timeout": timeout}  # fmt: skip
    applied = svc.post("/hosts/th/network-state", json=asked)
    assert applied.status_code == 202, applied.text
    change = applied.json()
    assert change["state"] == "waiting", change
    assert [(s["action"], s["detail"]) for s in change["steps"]] == [("dhcp", "ipv4")]
    return change


def test_dhcp_without_a_confirmation_is_rolled_back_client_and_address(svc, testhost, wire):
    change = apply_dhcp(svc, wire, timeout=5)
    ((address,),) = [leased(testhost, wire)]
    assert address["dynamic"] is True and address["valid_life_time"] <= 3600
    pid = change["dhcp_clients"][wire]
    assert alive(pid)

    url = f"/hosts/th/network-state/changes/{change['id']}"
    ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
    assert ended["state"] == "rolled-back", ended
    assert ended["rollback_errors"] == []
    assert leased(testhost, wire) == []
    assert not alive(pid)


def test_dhcp_confirmed_keeps_the_address_and_the_client_running(svc, testhost, wire):
    change = apply_dhcp(svc, wire, timeout=30)
    pid = change["dhcp_clients"][wire]
    try:
        confirmed = svc.post("/hosts/th/network-state/confirm")
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["state"] == "confirmed"
        assert len(leased(testhost, wire)) == 1
        assert alive(pid)
        # read back, the interface is on DHCP (its lease is no static address of its own)
        state = svc.get("/hosts/th/network-state").json()["state"]
        read = next(i for i in state["interfaces"] if i["name"] == wire)
        assert read["ipv4"] == {"dhcp": True, "addresses": []}
        # so the same state again plans nothing (no second client, the lease kept) ...
        again = {"interfaces": [{"name": wire, "type": "ethernet", "ipv4": {"dhcp": True}}]}
        planned = svc.post("/hosts/th/network-state/plan", json=again)
        assert planned.status_code == 200 and planned.json()["steps"] == [], planned.text
        # ... and static addresses in its place are refused, not half-done
        static = {"interfaces": [{"name": wire, "type": "ethernet",
                                  "ipv4": {"addresses": ["10.94.0.200/24"]}}]}  # fmt: skip
        refused = svc.post("/hosts/th/network-state/plan", json=static)
        assert refused.status_code == 409 and "DHCP client" in refused.json()["detail"]
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
