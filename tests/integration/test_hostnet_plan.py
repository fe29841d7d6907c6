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


BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def test_hostnet_show_and_plan_from_the_cli_and_a_yaml_bomb_refused(served, testhost, tmp_path):
    testhost.run("ip", "link", "add", "pbhn2", "type", "veth", "peer", "name", "pbhn3")
    try:
        shown = served.cli("hostnet-show", "--host", "th")
        assert shown.returncode == 0, shown.stderr
        assert "pbhn2" in shown.stdout and "ethernet" in shown.stdout
        wanted = tmp_path / "br.yaml"
        wanted.write_text(
            "interfaces:\n"
            "  - name: pbhnbr2\n"
            "    type: bridge\n"
            "    bridge: {ports: [pbhn2]}\n"
            "    ipv4: {addresses: [10.98.0.1/24]}\n"
        )
        planned = served.cli("hostnet-plan", str(wanted), "--host", "th", "-o", "json")
        assert planned.returncode == 0, planned.stderr
        assert '"action": "enslave"' in planned.stdout
        bomb = tmp_path / "bomb.yaml"
        bomb.write_text(BOMB)
        refused = served.cli("hostnet-plan", str(bomb), "--host", "th")
        assert refused.returncode == 1
        assert "aliases (*name) are not accepted" in refused.stderr
        assert "pbhnbr2" not in testhost.run("ip", "-o", "link", "show")  # nothing applied
    finally:
        testhost.run("ip", "link", "del", "pbhn2", check=False)
