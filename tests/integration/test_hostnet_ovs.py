"""Open vSwitch bridges in host network changes (issue 18): a bond of two veths and internal
ports with VLAN tags, on the test host's userspace datapath, confirmed or rolled back by the
host. OVSDB is checked with ovs-vsctl (an independent reader), Interface.error included:
ovs-vsctl and OVSDB accept a port that ovs-vswitchd then fails to open."""

from __future__ import annotations

import json

from tests.harness import TestHost
from tests.integration.test_hostnet_apply import drop, veth, wait_for_state

BRIDGE = "pbobr"
MEMBERS = ("pbo0", "pbo1")


def wanted(rollback_timeout: float) -> dict:
    return {"interfaces": [{"name": BRIDGE, "type": "ovs-bridge", "ovs_bridge": {
        "bonds": [{"name": "pbobond", "ports": list(MEMBERS)}],
        "internal": [{"name": "pboi10", "tag": 10}, {"name": "pboi20", "tag": 20}]}}],
        "rollback_timeout": rollback_timeout}  # fmt: skip


def get(testhost: TestHost, table: str, record: str, column: str) -> str:
    return testhost.vsctl("get", table, record, column).strip()


def bond_members(testhost: TestHost, port: str) -> list[str]:
    """The names of a port's interfaces (a bond has several)."""
    rows = json.loads(testhost.vsctl("--format=json", "--columns=interfaces", "list", "Port", port))
    cell = rows["data"][0][0]
    uuids = [u[1] for u in cell[1]] if cell[0] == "set" else [cell[1]]
    ifaces = json.loads(
        testhost.vsctl("--format=json", "--columns=_uuid,name", "list", "Interface")
    )
    names = {row[0][1]: row[1] for row in ifaces["data"]}
    return sorted(names[u] for u in uuids)


def in_ovsdb(testhost: TestHost, name: str) -> bool:
    """Whether OVSDB has an Interface or Port of that name."""
    found = testhost.vsctl("--columns=name", "--format=json", "find", "Interface", f"name={name}")
    ports = testhost.vsctl("--columns=name", "--format=json", "find", "Port", f"name={name}")
    return bool(json.loads(found)["data"] or json.loads(ports)["data"])


def test_an_ovs_bond_and_tagged_internal_ports_applied_and_confirmed(
    svc, testhost: TestHost, ovs_bridge: str
):
    for name in MEMBERS:
        veth(testhost, name, f"{name}p", up=True)
    try:
        applied = svc.post("/hosts/th/network-state", json=wanted(30))
        assert applied.status_code == 202, applied.text
        confirmed = svc.post("/hosts/th/network-state/confirm")
        assert confirmed.status_code == 200, confirmed.text
        # the datapath of the host's other bridge (ovs_bridge's): userspace
        assert get(testhost, "Bridge", BRIDGE, "datapath_type") == "netdev"
        ports = testhost.vsctl("list-ports", BRIDGE).split()
        assert sorted(ports) == ["pbobond", "pboi10", "pboi20"]
        assert testhost.vsctl("iface-to-br", "pbo1").strip() == BRIDGE
        assert {testhost.vsctl("port-to-br", "pbobond").strip()} == {BRIDGE}
        assert bond_members(testhost, "pbobond") == list(MEMBERS)
        assert get(testhost, "Port", "pboi10", "tag") == "10"
        assert get(testhost, "Port", "pboi20", "tag") == "20"
        assert get(testhost, "Interface", "pboi10", "type") == "internal"
        for name in (*MEMBERS, "pboi10", "pboi20", BRIDGE):
            assert get(testhost, "Interface", name, "error") == "[]", name
        # read back in the desired state's form
        state = svc.get("/hosts/th/network-state").json()["state"]
        shown = next(i for i in state["interfaces"] if i["name"] == BRIDGE)["ovs_bridge"]
        assert shown["bonds"] == [{"name": "pbobond", "ports": list(MEMBERS)}]
        assert shown["internal"] == [{"name": "pboi10", "tag": 10}, {"name": "pboi20", "tag": 20}]
        # the same again: nothing to do
        again = svc.post("/hosts/th/network-state", json=wanted(30))
        assert again.status_code == 202 and again.json()["steps"] == [], again.text
    finally:
        testhost.vsctl("--if-exists", "del-br", BRIDGE)
        drop(testhost, *MEMBERS)


def test_an_ovs_bond_without_a_confirmation_is_rolled_back(
    svc, testhost: TestHost, ovs_bridge: str
):
    for name in MEMBERS:
        veth(testhost, name, f"{name}p", up=True)
    try:
        applied = svc.post("/hosts/th/network-state", json=wanted(3))
        assert applied.status_code == 202, applied.text
        assert testhost.vsctl("port-to-br", "pbobond").strip() == BRIDGE
        url = f"/hosts/th/network-state/changes/{applied.json()['id']}"
        ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
        assert ended["state"] == "rolled-back" and ended["rollback_errors"] == [], ended
        assert testhost.run("ovs-vsctl", f"--db={testhost.ovs()}", "br-exists", BRIDGE,
                            check=False) == ""  # fmt: skip
        assert BRIDGE not in testhost.vsctl("list-br").split()
        for name in (*MEMBERS, "pbobond", "pboi10", "pboi20"):
            assert not in_ovsdb(testhost, name), name
        for name in MEMBERS:  # the veths are free again
            link = json.loads(testhost.run("ip", "-j", "link", "show", name))[0]
            assert "master" not in link, link
        assert ovs_bridge in testhost.vsctl("list-br").split()  # the host's other bridge stays
    finally:
        testhost.vsctl("--if-exists", "del-br", BRIDGE)
        drop(testhost, *MEMBERS)
