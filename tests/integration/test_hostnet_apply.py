"""Host network changes applied on a real test host (issue 18, part 2): a checkpoint, the
plan applied over netlink by the agent in the host's namespace, a confirmation or the
host's own rollback, and bad input that changes nothing.

"As before" is `ip -j -d link`, `ip -j addr` and `ip -j route` of the host's namespace, equal
after `normalised`, which drops only the bridges' and bridge ports' timers (hello_timer,
gc_timer, forward_delay_timer, ...): they count down by themselves whatever anyone does, so
two reads a second apart differ in them even when nothing changed. Nothing else is dropped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.ports import free_port
from tests.unit.test_api_auth import assert_problem

ROOT = Path(__file__).resolve().parents[2]


def normalised(value):
    """`value` without the timers (keys ending in _timer) anywhere in it."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items() if not k.endswith("_timer")}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def host_state(testhost: TestHost) -> dict:
    return {
        what: normalised(json.loads(testhost.run("ip", "-j", *args)))
        for what, args in (("link", ("-d", "link", "show")), ("addr", ("addr",)),
                           ("route", ("route", "show", "table", "all")))
    }  # fmt: skip


def veth(testhost: TestHost, name: str, peer: str, up: bool = False) -> None:
    testhost.run("ip", "link", "add", name, "type", "veth", "peer", "name", peer)
    if up:
        testhost.run("ip", "link", "set", name, "up")
        testhost.run("ip", "link", "set", peer, "up")
        settled(testhost)


def settled(testhost: TestHost, timeout: float = 10.0) -> None:
    """Wait until the host's state holds still: a link just brought up does duplicate address
    detection on its link-local address for a moment, then gets its local route; a bridge
    libvirt just made loses its carrier a moment later. A "before" read in such a moment
    would differ from any later read, whatever the change did."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = host_state(testhost)
        if now == last and "tentative" not in json.dumps(now):
            return
        last = now
        time.sleep(0.3)


def drop(testhost: TestHost, *names: str) -> None:
    for name in names:
        testhost.run("ip", "link", "del", name, check=False)


def wait_for_state(get, states: tuple[str, ...], timeout: float = 20.0) -> dict:
    """The change once its state is one of `states` (polled, with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        change = get()
        if change["state"] in states or time.monotonic() > deadline:
            return change
        time.sleep(0.1)


def bridge_over(port: str, name: str, address: str, **extra) -> dict:
    return {"interfaces": [{"name": name, "type": "bridge", "bridge": {"ports": [port]},
                            "ipv4": {"addresses": [address]}}], **extra}  # fmt: skip


def test_a_bridge_over_a_veth_applied_and_confirmed(svc, testhost: TestHost):
    veth(testhost, "pbha0", "pbha1")
    try:
        asked = bridge_over("pbha0", "pbhabr", "10.93.0.1/24", rollback_timeout=30)
        applied = svc.post("/hosts/th/network-state", json=asked)
        assert applied.status_code == 202, applied.text
        change = applied.json()
        assert change["state"] == "waiting" and change["deadline"] > time.time()
        assert applied.headers["location"].endswith(f"/network-state/changes/{change['id']}")
        assert ("enslave", "pbha0") in [(s["action"], s["interface"]) for s in change["steps"]]
        assert "pbhabr: added (bridge)" in change["diff"]
        # another change while this one waits: refused
        other = svc.post(
            "/hosts/th/network-state", json=bridge_over("pbha1", "pbhb2", "10.93.1.1/24")
        )
        assert_problem(other, 409, "CHANGE_PENDING")

        confirmed = svc.post("/hosts/th/network-state/confirm")
        assert confirmed.status_code == 200, confirmed.text
        assert (confirmed.json()["state"], confirmed.json()["confirmed_by"]) == (
            "confirmed",
            "caller",
        )
        state = svc.get("/hosts/th/network-state").json()["state"]
        bridge = next(i for i in state["interfaces"] if i["name"] == "pbhabr")
        assert bridge["bridge"]["ports"] == ["pbha0"]
        assert bridge["ipv4"]["addresses"] == ["10.93.0.1/24"]
        assert bridge["state"] == "up" or "UP" in testhost.run("ip", "link", "show", "pbhabr")
        assert_problem(svc.post("/hosts/th/network-state/confirm"), 409, "NO_CHANGE_WAITING")
        # the audit log has the apply (with its steps) and the confirmation
        events = svc.get("/events", params={"limit": 20}).json()["items"]
        actions = [e["action"] for e in events]
        assert "POST /hosts/{host}/network-state" in actions
        assert "POST /hosts/{host}/network-state/confirm" in actions
    finally:
        drop(testhost, "pbhabr", "pbha0")


def test_without_a_confirmation_the_host_rolls_back_to_exactly_as_before(svc, testhost):
    veth(testhost, "pbhc0", "pbhc1", up=True)
    try:
        before = host_state(testhost)
        route = {"destination": "10.93.3.0/24", "gateway": "10.93.2.9"}
        asked = bridge_over("pbhc0", "pbhcbr", "10.93.2.1/24", rollback_timeout=3, routes=[route])
        applied = svc.post("/hosts/th/network-state", json=asked)
        assert applied.status_code == 202, applied.text
        change = applied.json()
        assert "pbhcbr" in testhost.run("ip", "-o", "link", "show")
        assert "10.93.3.0/24 via 10.93.2.9" in testhost.run("ip", "route")
        url = f"/hosts/th/network-state/changes/{change['id']}"
        ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
        assert ended["state"] == "rolled-back", ended
        assert ended["reason"] == "no confirmation within 3 s"
        assert ended["rollback_errors"] == []
        assert host_state(testhost) == before
        assert_problem(svc.post("/hosts/th/network-state/confirm"), 409, "NO_CHANGE_WAITING")
        # the rollback is in the audit log, with what the change had done
        wait_for_state(lambda: {"state": _audited(svc, change["id"])}, ("rolled-back",), 5)
    finally:
        drop(testhost, "pbhcbr", "pbhc0")


def _audited(svc, change_id: str) -> str | None:
    events = svc.get("/events", params={"limit": 50}).json()["items"]
    found = [e for e in events if e["target"].endswith(f"changes/{change_id}")]
    return found[0]["result"] if found else None


def test_probes_keep_a_change_that_they_answer_and_undo_one_that_breaks_them(svc, testhost):
    veth(testhost, "pbhp0", "pbhp1", up=True)
    testhost.run("ip", "addr", "add", "10.93.4.1/24", "dev", "pbhp0")
    settled(testhost)
    try:
        before = host_state(testhost)
        # the change removes the address the probe needs: no answer, the host rolls it back
        breaking = {"interfaces": [{"name": "pbhp0", "type": "ethernet",
                                    "ipv4": {"addresses": []}}],
                    "rollback_timeout": 3, "probes": ["10.93.4.1"]}  # fmt: skip
        applied = svc.post("/hosts/th/network-state", json=breaking)
        assert applied.status_code == 202, applied.text
        url = f"/hosts/th/network-state/changes/{applied.json()['id']}"
        ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
        assert ended["state"] == "rolled-back", ended
        assert "not every probe answered" in ended["reason"]
        assert host_state(testhost) == before

        # a change the probe answers through is kept by the host itself
        keeping = {"interfaces": [{"name": "pbhp0", "type": "ethernet", "mtu": 1400}],
                   "rollback_timeout": 10, "probes": ["10.93.4.1"]}  # fmt: skip
        applied = svc.post("/hosts/th/network-state", json=keeping)
        assert applied.status_code == 202, applied.text
        url = f"/hosts/th/network-state/changes/{applied.json()['id']}"
        ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
        assert (ended["state"], ended["confirmed_by"]) == ("confirmed", "probes")
        assert "mtu 1400" in testhost.run("ip", "link", "show", "pbhp0")
    finally:
        drop(testhost, "pbhp0")


def test_a_libvirt_bridge_keeps_its_running_vms_tap_through_apply_and_rollback(
    svc, testhost: TestHost, networks: NetworkFactory, guests: GuestFactory
):
    net = networks.create("nat")
    guest = guests.boot(net.name, wait=False)  # the tap exists once QEMU runs
    tap = guest.dom.XMLDesc().split("<target dev='")[1].split("'")[0]
    settled(testhost)
    before = host_state(testhost)
    assert _master(testhost, tap) == net.bridge
    asked = {"interfaces": [{"name": net.bridge, "type": "bridge", "mtu": 1400,
                             "bridge": {"stp": True}}], "rollback_timeout": 3}  # fmt: skip
    applied = svc.post("/hosts/th/network-state", json=asked)
    assert applied.status_code == 202, applied.text
    shown = json.loads(testhost.run("ip", "-j", "-d", "link", "show", net.bridge))[0]
    assert (shown["mtu"], shown["linkinfo"]["info_data"]["stp_state"]) == (1400, 1)
    assert _master(testhost, tap) == net.bridge
    url = f"/hosts/th/network-state/changes/{applied.json()['id']}"
    ended = wait_for_state(lambda: svc.get(url).json(), ("rolled-back", "confirmed"))
    assert ended["state"] == "rolled-back" and ended["rollback_errors"] == [], ended
    assert _master(testhost, tap) == net.bridge
    assert host_state(testhost) == before


def _master(testhost: TestHost, name: str) -> str | None:
    return json.loads(testhost.run("ip", "-j", "link", "show", name))[0].get("master")


@pytest.mark.parametrize(
    ("interfaces", "status", "code"),
    [
        ([{"name": "pbhxbr", "type": "bridge", "bridge": {"ports": ["pbhxbr"]}}],
         409, "PLAN_REFUSED"),  # a loop
        ([{"name": "pbhxbr", "type": "bridge", "bridge": {"ports": ["pbhx0"]}},
          {"name": "pbhxb2", "type": "bridge", "bridge": {"ports": ["pbhx0"]}}],
         409, "PLAN_REFUSED"),  # a port in two bridges
        ([{"name": "pbhxbr", "type": "token-ring"}], 422, "VALIDATION_ERROR"),
        ([{"name": "pbhx0", "type": "ethernet", "mtu": 70000}], 422, "VALIDATION_ERROR"),
        # the kernel here has no VLANs: the bridge made first must not be left behind
        ([{"name": "pbhxbr", "type": "bridge", "bridge": {"ports": ["pbhx0"]}},
          {"name": "pbhxv7", "type": "vlan", "vlan": {"base": "pbhxbr", "id": 7}}],
         409, "CHANGE_FAILED"),
    ],
    ids=["loop", "two-masters", "unknown-kind", "mtu-70000", "failed-midway"],
)  # fmt: skip
def test_bad_input_changes_nothing(svc, testhost, interfaces, status, code):
    veth(testhost, "pbhx0", "pbhx1")
    settled(testhost)
    try:
        before = host_state(testhost)
        answer = svc.post("/hosts/th/network-state", json={"interfaces": interfaces})
        body = assert_problem(answer, status, code)
        assert host_state(testhost) == before
        if code == "CHANGE_FAILED":
            assert "Operation not supported" in body["detail"]
            assert body["current"]["pbhxbr"]["kind"] == "bridge"  # as read before the rollback
            assert body["rollback_errors"] == []
    finally:
        drop(testhost, "pbhx0")


def test_removing_a_libvirt_networks_bridge_and_an_unreachable_host_change_nothing(
    svc, testhost, networks: NetworkFactory
):
    net = networks.create("nat")
    settled(testhost)
    before = host_state(testhost)
    gone = {"interfaces": [{"name": net.bridge, "type": "bridge", "state": "absent"}]}
    body = assert_problem(svc.post("/hosts/th/network-state", json=gone), 409, "PLAN_REFUSED")
    assert f"network {net.name}" in body["detail"]
    dead = "qemu:///system?socket=/run/plugboard-testhost/pbhn-none/run/libvirt-sock"
    assert svc.post("/hosts", json={"name": "gone", "uri": dead}).status_code == 201
    answer = svc.post("/hosts/gone/network-state", json={"interfaces": [
        {"name": "pbhybr", "type": "bridge"}]})  # fmt: skip
    assert answer.status_code == 502, answer.text
    assert host_state(testhost) == before


def test_the_host_rolls_back_when_the_service_is_killed_while_a_change_waits(
    testhost: TestHost, tmp_path: Path
):
    veth(testhost, "pbhk0", "pbhk1")
    service = _serve(tmp_path)
    settled(testhost)
    try:
        before = host_state(testhost)
        client = httpx.Client(base_url=f"{service.url}/api/v1", headers=service.auth, timeout=60)
        made = client.post("/hosts", json={"name": "th", "uri": testhost.uri})
        assert made.status_code == 201, made.text
        applied = client.post("/hosts/th/network-state", json=bridge_over(
            "pbhk0", "pbhkbr", "10.93.5.1/24", rollback_timeout=3))  # fmt: skip
        assert applied.status_code == 202, applied.text
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait(10)
        assert "pbhkbr" in testhost.run("ip", "-o", "link", "show")
        status = next((tmp_path / "hostnet").glob(f"*/{applied.json()['id']}/status.json"))
        ended = wait_for_state(lambda: json.loads(status.read_text()), ("rolled-back",))
        assert ended["state"] == "rolled-back", ended
        assert host_state(testhost) == before
    finally:
        if service.proc.poll() is None:
            service.proc.kill()
        drop(testhost, "pbhkbr", "pbhk0")


class _Served:
    def __init__(self, proc: subprocess.Popen, url: str, token_file: Path) -> None:
        self.proc, self.url, self.token_file = proc, url, token_file

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}


def _serve(directory: Path) -> _Served:
    """`plugboard serve` in a process of its own (so it can be killed), as fuzz_served does."""
    port = free_port()
    env = os.environ | {
        "PLUGBOARD_DATABASE_URL": f"sqlite:///{directory / 'plugboard.db'}",
        "PLUGBOARD_CONFIG_DIR": str(directory / "config"),
        "PLUGBOARD_CONFIG": str(directory / "none.toml"),
        "PLUGBOARD_LOCAL_URI": "test:///default",
        "PLUGBOARD_LISTEN_PORT": str(port),
        "PLUGBOARD_HOSTNET_RUN_DIR": str(directory / "hostnet"),
        "PLUGBOARD_HOSTNET_ETC_DIR": str(directory / "etc"),  # not the machine's /etc/network
    }
    log = (directory / "service.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "plugboard", "serve"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return _Served(proc, url, directory / "config" / "token")
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the service did not start: {(directory / 'service.log').read_text()}")


def test_hostnet_apply_and_confirm_from_the_cli(served, testhost: TestHost, tmp_path: Path):
    veth(testhost, "pbhl0", "pbhl1")
    wanted = tmp_path / "br.yaml"
    wanted.write_text(
        "interfaces:\n"
        "  - name: pbhlbr\n"
        "    type: bridge\n"
        "    bridge: {ports: [pbhl0]}\n"
        "    ipv4: {addresses: [10.93.6.1/24]}\n"
    )
    try:
        planned = served.cli("hostnet-apply", str(wanted), "--host", "th", "--dry-run")
        assert planned.returncode == 0, planned.stderr
        assert "enslave" in planned.stdout and "pbhlbr" not in testhost.run("ip", "link")
        # -o json: the change, at once; hostnet-confirm keeps it
        applied = served.cli("hostnet-apply", str(wanted), "--host", "th", "-o", "json")
        assert applied.returncode == 0, applied.stderr
        assert json.loads(applied.stdout)["state"] == "waiting"
        kept = served.cli("hostnet-confirm", "--host", "th")
        assert kept.returncode == 0 and "kept" in kept.stdout, kept.stderr
        # without a terminal, hostnet-apply follows the change to its end: here the rollback
        moved = tmp_path / "mtu.yaml"
        moved.write_text("interfaces: [{name: pbhlbr, type: bridge, mtu: 1400}]\n")
        waited = served.cli("hostnet-apply", str(moved), "--host", "th", "--rollback-timeout", "2")
        assert waited.returncode == 1
        assert "rolled-back: no confirmation within 2 s" in waited.stderr
        assert "mtu 1500" in testhost.run("ip", "link", "show", "pbhlbr")
    finally:
        drop(testhost, "pbhlbr", "pbhl0")
