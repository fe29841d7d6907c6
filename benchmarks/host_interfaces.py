"""Reading a host's interfaces: plugboard's netlink + OVSDB reader against the commands an
administrator would run for the same facts.

Run as root:  .venv/bin/python benchmarks/host_interfaces.py [--rounds 200]

A private test host runs Open vSwitch (userspace datapath) with one bridge and two guests'
taps on it, plus a Linux bridge with a veth. Timed, interleaved, on a thread as the service
does (libvirtd lives in the test host's namespace, so both sides enter it):
  - plugboard  hostnet.listing.read(lv): netlink in libvirtd's namespace (links + addresses) and one
               OVSDB transact (bridges, ports, interfaces); without the VM/network usage
  - commands   `ip -j -d link` + `ip -j addr` in the namespace, and `ovs-vsctl show`
  - check      hostnet.listing.check_source for an OVS bridge and for a macvtap device (what a vNIC
               change to such a source adds to its latency)
Prints the medians and the ratio plugboard / commands.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.guest import NicSpec

from plugboard.hostnet import listing as hostnet
from plugboard.hosts.adapter import Libvirt


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    host = TestHost.up("bench-if")
    networks = NetworkFactory(host)
    guests = GuestFactory(host)
    try:
        db = host.ovs()
        host.vsctl("add-br", "br-ovs", "--", "set", "bridge", "br-ovs", "datapath_type=netdev")
        host.run("ip", "link", "add", "br-lin", "type", "bridge")
        host.run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        host.run("ip", "link", "set", "v1", "master", "br-lin")
        networks.create()
        for tag in (100, 200):
            nic = NicSpec(None, "ua-nic1", kind="ovs", bridge="br-ovs", vlan=tag)
            guests.boot(nics=[nic], wait=False)
        conn = Libvirt(host.conn, host.name)
        ns = ["ip", "netns", "exec", host.netns]

        def commands():
            for argv in (
                [*ns, "ip", "-j", "-d", "link"],
                [*ns, "ip", "-j", "addr"],
                ["ovs-vsctl", f"--db={db}", "show"],
            ):
                subprocess.run(argv, capture_output=True, check=True)

        cases = {
            "plugboard": lambda: hostnet.read(conn, usage=False),
            "plugboard+usage": lambda: hostnet.read(conn),
            "commands": commands,
            "check ovs": lambda: hostnet.check_source(conn, "ovs", "br-ovs"),
            "check macvtap": lambda: hostnet.check_source(conn, "macvtap", "v0"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for fn in cases.values():
            fn()  # warm up
        for _ in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(timed(fn))
        medians = {name: statistics.median(xs) for name, xs in times.items()}
        listing = hostnet.read(conn)
        print(f"{len(listing.interfaces)} interfaces, source {listing.source}, "
              f"{args.rounds} interleaved rounds, medians:")  # fmt: skip
        for name, ms in medians.items():
            print(f"  {name:16} {ms:7.2f} ms")
        ratio = medians["plugboard"] / medians["commands"]
        print(f"plugboard / commands = {ratio:.2f}x")
    finally:
        guests.cleanup()
        networks.cleanup()
        host.down()


if __name__ == "__main__":
    main()
