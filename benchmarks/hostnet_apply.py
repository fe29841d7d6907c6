"""Host network change (issue 18): the time to plan, apply and read back a 10-interface change
(a bridge over five veths, the five with MTU 1400, four more veths with an address, the bridge
with one) with plugboard's code, against the same change as a shell script of `ip` commands
(one `ip -n NS ...` per step, then `ip -j -d link` and `ip -j addr` to read it back), measured
in the same run, interleaved. And the time from a change's confirmation deadline to its
rollback complete, as the agent measures it on the host (status.json's
deadline_to_rolled_back_ms), the agent run as the service runs it.

Run as root:  .venv/bin/python benchmarks/hostnet_apply.py [--rounds 10]

plugboard's time is in-process (netlink read, state_of, plan, every step over one netlink
socket, snapshot, verify): the agent's own work, without its process start-up (about 0.25 s
of Python imports, printed apart). A network namespace of its own; nothing outside it is
touched. nmstate is not compared: Debian 12 has no nmstate package (`apt-cache policy nmstate`
knows none), and nmstate drives NetworkManager (installable, not installed here), which
manages the machine's own namespace; running one per network namespace was not tried.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyroute2 import IPRoute

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from plugboard.hostnet import netlink, netops
from plugboard.hostnet.checkpoint import verify
from plugboard.hostnet.desired import NetworkState, state_of
from plugboard.hostnet.model import Listing
from plugboard.hostnet.plan import plan

NS = f"pbhn-bench-{os.getpid()}"
NETNS = f"/run/netns/{NS}"
PORTS = [f"a{i}" for i in range(5)]
OTHERS = [f"b{i}" for i in range(4)]
DESIRED = NetworkState.model_validate({"interfaces": [
    {"name": "br0", "type": "bridge", "mtu": 1400, "bridge": {"ports": PORTS},
     "ipv4": {"addresses": ["10.90.0.1/24"]}},
    *({"name": p, "type": "ethernet", "mtu": 1400} for p in PORTS),
    *({"name": b, "type": "ethernet", "ipv4": {"addresses": [f"10.90.{i + 1}.1/24"]}}
      for i, b in enumerate(OTHERS)),
]})  # fmt: skip
SHELL = [
    "link add br0 type bridge", "link set br0 type bridge stp_state 0 forward_delay 1500",
    *(f"link set {p} mtu 1400" for p in PORTS), "link set br0 mtu 1400",
    *(f"link set {p} master br0" for p in PORTS), "addr add 10.90.0.1/24 dev br0",
    *(f"addr add 10.90.{i + 1}.1/24 dev {b}" for i, b in enumerate(OTHERS)),
    "link set br0 up",
]  # fmt: skip


def ip(*args: str) -> str:
    return subprocess.run(["ip", "-n", NS, *args], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def reset() -> None:
    """The namespace as before the change: no bridge, MTU 1500, no addresses."""
    subprocess.run(["ip", "-n", NS, "link", "del", "br0"], capture_output=True, check=False)
    for name in PORTS + OTHERS:
        ip("link", "set", name, "mtu", "1500")
        ip("addr", "flush", "dev", name)


def with_plugboard() -> float:
    started = time.perf_counter()
    current = state_of(Listing("netlink", [], netlink.read(NETNS)))
    steps = plan(DESIRED, current).steps
    with netlink._entered(NETNS):  # a netlink socket opened here stays in the namespace
        ipr = IPRoute()
    with ipr:
        for step in steps:
            netops.apply_step(ipr, step, DESIRED)
        wrong = verify(DESIRED, netops.snapshot(ipr))
    assert not wrong, wrong
    return time.perf_counter() - started


def with_shell() -> float:
    script = "\n".join(f"ip -n {NS} {line}" for line in SHELL)
    script += f"\nip -n {NS} -j -d link show >/dev/null\nip -n {NS} -j addr >/dev/null\n"
    started = time.perf_counter()
    subprocess.run(["sh", "-e", "-c", script], check=True)
    return time.perf_counter() - started


def rollback_after_deadline(directory: Path) -> dict:
    """One change through the agent, not confirmed: its timings from status.json."""
    current = state_of(Listing("netlink", [], netlink.read(NETNS)))
    steps = [s.__dict__ for s in plan(DESIRED, current).steps]
    request = {"id": directory.name, "desired": DESIRED.model_dump(mode="json"),
               "steps": steps, "rollback_timeout": 1, "probes": []}  # fmt: skip
    (directory / "request.json").write_text(json.dumps(request))
    started = time.perf_counter()
    command = [sys.executable, "-m", "plugboard.hostnet.agent", "--dir", str(directory),
               "--netns", NETNS]  # fmt: skip
    source = {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    subprocess.run(command, check=True, env=os.environ | source)
    foreground = time.perf_counter() - started
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = json.loads((directory / "status.json").read_text())
        if status["state"] == "rolled-back":
            return status | {"foreground_s": foreground}
        time.sleep(0.05)
    raise RuntimeError(f"not rolled back: {status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        for name in PORTS + OTHERS:
            ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
        ours, theirs = [], []
        for _ in range(rounds):
            reset()
            theirs.append(with_shell())
            reset()
            ours.append(with_plugboard())
        reset()
        timings = []
        with tempfile.TemporaryDirectory(prefix="pbhn-bench-") as tmp:
            for n in range(max(3, rounds // 2)):
                change = Path(tmp) / f"c{n}"
                change.mkdir()
                timings.append(rollback_after_deadline(change))
        report(ours, theirs, timings)
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


def report(ours: list[float], theirs: list[float], timings: list[dict]) -> None:
    mine, shell = statistics.median(ours), statistics.median(theirs)
    print(f"10-interface change, plan + apply + read back (median of {len(ours)}):")
    print(f"  plugboard (netlink, in process) {mine * 1000:8.1f} ms")
    print(f"  shell script of ip commands     {shell * 1000:8.1f} ms")
    print(f"  ratio plugboard / shell          {mine / shell:8.2f}")
    late = statistics.median(t["deadline_to_rolled_back_ms"] for t in timings)
    undo = statistics.median(t["rollback_ms"] for t in timings)
    start = statistics.median(t["foreground_s"] for t in timings)
    print(f"agent (median of {len(timings)}): apply as a process (start-up, checkpoint, apply, "
          f"verify) {start * 1000:.0f} ms; deadline -> rollback complete {late:.1f} ms "
          f"(the rollback itself {undo:.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
