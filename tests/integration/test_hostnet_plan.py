"""The host network state read from a test host, and the plan of a change against it
(issue 18's first part: nothing is applied yet)."""

from tests.harness import NetworkFactory, TestHost
from tests.unit.test_api_auth import assert_problem


def test_the_state_read_from_a_test_host_and_a_bridge_planned_over_its_veth(
    svc, testhost: TestHost, networks: NetworkFactory
):
    testhost.run("ip", "link", "add", "pbhn0", "type", "veth", "peer", "name", "pbhn1")
    try:
        found = svc.get("/hosts/th/network-state").json()
        assert found["source"].startswith("netlink")
        veth = next(i for i in found["state"]["interfaces"] if i["name"] == "pbhn0")
        assert (veth["type"], veth["mtu"]) == ("ethernet", 1500)

        desired = {"interfaces": [{"name": "pbhnbr", "type": "bridge", "mtu": 1500,
                                   "bridge": {"ports": ["pbhn0"]},
                                   "ipv4": {"addresses": ["10.99.0.1/24"]}}]}  # fmt: skip
        plan = svc.post("/hosts/th/network-state/plan", json=desired)
        assert plan.status_code == 200, plan.text
        steps = [(s["action"], s["interface"]) for s in plan.json()["steps"]]
        assert steps[:2] == [("create", "pbhnbr"), ("set-mtu", "pbhnbr")]
        assert ("enslave", "pbhn0") in steps and steps[-1] == ("link-up", "pbhnbr")
        # a plan changes nothing
        links = testhost.run("ip", "-o", "link", "show")
        assert "pbhnbr" not in links

        # the bridge of a libvirt network: refused, naming it
        net = networks.create("nat")
        gone = {"interfaces": [{"name": net.bridge, "type": "bridge", "state": "absent"}]}
        body = assert_problem(
            svc.post("/hosts/th/network-state/plan", json=gone), 409, "PLAN_REFUSED"
        )
        assert f"network {net.name}" in body["detail"]
        assert body["refusals"][0]["field"] == f"/interfaces/{net.bridge}/state"
    finally:
        testhost.run("ip", "link", "del", "pbhn0", check=False)
