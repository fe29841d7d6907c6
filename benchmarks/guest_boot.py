"""Time from `virDomainCreateXML` to the guest's DHCP lease, on a private test host.

Run as root after `make guest`:  .venv/bin/python benchmarks/guest_boot.py [--runs 5]
Prints each run and the median, for the lease as libvirt's dnsmasq reports it and for the
moment the guest's command channel first answers.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness import GuestFactory, NetworkFactory, TestHost


def boot_once(host: TestHost, net, n: int) -> tuple[float, float]:
    guests = GuestFactory(host)
    try:
        started = time.monotonic()
        guest = guests.boot(net.name, name=f"pbbench-{n}", wait=False)
        mac = guest.macs()[0]
        while net.lease_for(mac) is None:
            time.sleep(0.02)
        leased = time.monotonic() - started
        guest.wait_ready()
        return leased, time.monotonic() - started
    finally:
        guests.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    host = TestHost.up("bench-boot")
    networks = NetworkFactory(host)
    try:
        net = networks.create("nat")
        leases, agents = [], []
        for n in range(args.runs):
            leased, agent = boot_once(host, net, n)
            leases.append(leased)
            agents.append(agent)
            print(f"run {n + 1}: lease after {leased:.2f} s, agent after {agent:.2f} s")
        print(
            f"median of {args.runs}: boot to lease {statistics.median(leases):.2f} s "
            f"(min {min(leases):.2f}, max {max(leases):.2f}); "
            f"boot to agent {statistics.median(agents):.2f} s"
        )
    finally:
        networks.cleanup()
        host.down()


if __name__ == "__main__":
    main()
