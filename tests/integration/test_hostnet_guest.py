"""A booted guest through a host network change of its network's bridge (issue 18, test 1):
its tap stays on the bridge, and it keeps its DHCP lease, through an apply and a rollback of
a change to that bridge's MTU and STP; afterwards it reaches the bridge's address.

While STP is on, the bridge holds its ports in listening and learning for twice the forward
delay (the kernel's STP), so the guest's traffic is not expected to pass meanwhile; its
address and lease are, and the ping is made before and after."""

from __future__ import annotations

import json

from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.integration.test_hostnet_apply import wait_for_state


def master(testhost: TestHost, name: str) -> str | None:
    return json.loads(testhost.run("ip", "-j", "link", "show", name))[0].get("master")


def test_a_guest_keeps_its_tap_and_its_lease_through_an_mtu_and_stp_change_rolled_back(
    svc, testhost: TestHost, networks: NetworkFactory, guests: GuestFactory
):
    net = networks.create("nat")
    guest = guests.boot(net.name)
    mac = guest.macs()[0]
    address = guest.wait_for_address(mac, net.subnet)
    lease = net.lease_for(mac)
    assert lease is not None
    tap = guest.dom.XMLDesc().split("<target dev='")[1].split("'")[0]
    guest.check(f"ping -c 1 -W 2 {net.gateway}")

    asked = {"interfaces": [{"name": net.bridge, "type": "bridge", "mtu": 1400,
                             "bridge": {"stp": True, "forward_delay": 2}}],
             "rollback_timeout": 4}  # fmt: skip
    applied = svc.post("/hosts/th/network-state", json=asked)
    assert applied.status_code == 202, applied.text
    shown = json.loads(testhost.run("ip", "-j", "-d", "link", "show", net.bridge))[0]
    assert (shown["mtu"], shown["linkinfo"]["info_data"]["stp_state"]) == (1400, 1)
    assert master(testhost, tap) == net.bridge
    assert guest.nic_by_mac(mac).addresses == (address,)  # type: ignore[union-attr]

    url = f"/hosts/th/network-state/changes/{applied.json()['id']}"
    ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
    assert ended["state"] == "rolled-back" and ended["rollback_errors"] == [], ended
    shown = json.loads(testhost.run("ip", "-j", "-d", "link", "show", net.bridge))[0]
    assert (shown["mtu"], shown["linkinfo"]["info_data"]["stp_state"]) == (1500, 0)
    assert master(testhost, tap) == net.bridge
    assert guest.nic_by_mac(mac).addresses == (address,)  # type: ignore[union-attr]
    after = net.lease_for(mac)
    assert after is not None and after["ipaddr"] == lease["ipaddr"] == str(address.ip)
    guest.wait_for(
        f"a ping from the guest to {net.gateway}",
        lambda: guest.run(f"ping -c 1 -W 1 {net.gateway}", timeout=10).status == 0,
        timeout=15,
    )
