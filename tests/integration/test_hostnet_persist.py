"""A confirmed host network change persists in ifupdown's format (issue 18, test 3): after a
confirm the file holds the bridge; the test host's interfaces that the change made are then
flushed, and Debian's own `ifup -a` with that file, run inside the test host's namespace,
brings the state back as it was confirmed.

ifup runs with `-i` (the written file only), `--state-dir` (its own, not this machine's
/run/network) and `--no-loopback`; its hook scripts are this machine's (bridge-utils makes
the bridge). The test checks that nothing outside the namespace changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.harness import TestHost
from tests.integration.test_hostnet_apply import drop, settled, veth

ASKED = {"interfaces": [{"name": "pbfbr", "type": "bridge", "mtu": 1400,
                         "bridge": {"ports": ["pbf0"]},
                         "ipv4": {"addresses": ["10.93.8.1/24"]}}],
         "rollback_timeout": 30}  # fmt: skip


def outside() -> dict:
    """This machine's own interfaces (the root namespace), by name: their addresses, MTU and
    master (what an ifup gone astray would change)."""
    found = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True,
                                      check=True).stdout)  # fmt: skip
    return {
        i["ifname"]: (i.get("mtu"), i.get("master"), sorted(a["local"] for a in i["addr_info"]))
        for i in found
    }


def link(testhost: TestHost, name: str) -> dict:
    return json.loads(testhost.run("ip", "-j", "-d", "addr", "show", name))[0]


def test_a_confirmed_bridge_is_written_and_ifup_brings_it_back(
    svc, testhost: TestHost, tmp_path: Path
):
    veth(testhost, "pbf0", "pbf0p", up=True)  # a peer up: the port forwards at once
    try:
        applied = svc.post("/hosts/th/network-state", json=ASKED)
        assert applied.status_code == 202, applied.text
        kept = svc.post("/hosts/th/network-state/confirm").json()
        written = Path(svc.settings.hostnet_etc_dir.replace("{host}", "th"))
        target = written / "interfaces.d" / "plugboard"
        assert kept["persisted"] == str(target), kept
        assert kept["warnings"] == [
            f"{written}/interfaces does not exist: ifupdown will not read {target} at boot"
        ]
        text = target.read_text()
        assert (
            "auto pbfbr\niface pbfbr inet static\n    bridge_ports pbf0\n    bridge_stp off\n"
            "    bridge_fd 15\n    mtu 1400\n    address 10.93.8.1/24\n"
        ) in text
        # the audit record of the confirm says where it was written, and the warning
        events = svc.get("/events", params={"limit": 20}).json()["items"]
        confirm = next(e for e in events if e["action"].endswith("network-state/confirm"))
        assert str(target) in confirm["detail"]
        assert confirm["data"]["warnings"] == kept["warnings"]

        # flush what the change made: the bridge goes, the veth is free
        drop(testhost, "pbfbr")
        assert "master" not in link(testhost, "pbf0")
        settled(testhost)
        root_before = outside()
        state_dir = tmp_path / "ifstate"
        state_dir.mkdir()
        testhost.run("ifup", "-a", "-i", str(target), "--state-dir", str(state_dir),
                     "--no-loopback", timeout=60)  # fmt: skip

        bridge = link(testhost, "pbfbr")
        assert bridge["linkinfo"]["info_kind"] == "bridge"
        assert bridge["mtu"] == 1400 and "UP" in bridge["flags"]
        assert [(a["local"], a["prefixlen"]) for a in bridge["addr_info"]
                if a["family"] == "inet"] == [("10.93.8.1", 24)]  # fmt: skip
        assert link(testhost, "pbf0")["master"] == "pbfbr"
        state = svc.get("/hosts/th/network-state").json()["state"]
        shown = next(i for i in state["interfaces"] if i["name"] == "pbfbr")
        assert (shown["bridge"]["ports"], shown["mtu"]) == (["pbf0"], 1400)
        # nothing outside the namespace moved, and the machine's ifupdown state is untouched
        root_after = outside()  # other engineers' tests may add or drop their own meanwhile
        assert {n: root_after[n] for n in root_before if n in root_after} == {
            n: v for n, v in root_before.items() if n in root_after
        }
        assert not {"pbfbr", "pbf0"} & set(root_after)
        assert not Path("/run/network/ifstate.pbfbr").exists()
        assert "pbfbr" in (state_dir / "ifstate.pbfbr").read_text()
    finally:
        drop(testhost, "pbfbr", "pbf0")
