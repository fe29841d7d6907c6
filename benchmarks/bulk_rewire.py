"""Bulk re-wire (issue 19): 200 vNICs on 20 running VMs moved from network A to B through
plugboard's API, end to end, against 200 raw virDomainUpdateDeviceFlags calls made serially
in one process (the same moves, the baseline the issue names), measured in the same run.

Run as root after `make guest`:  .venv/bin/python benchmarks/bulk_rewire.py [--rounds 3]

The VMs need no OS (q35, 64 MiB, nothing to boot: the firmware idles); each has 10 virtio
vNICs on A. One private test host; `plugboard serve` in its own process, as in production.
Rounds alternate A -> B and B -> A, the two ways interleaved (raw, then the API) so that a
busy machine weighs on both alike. The API's time runs from the POST /hosts/th/rewire to the
operation's end (GET /operations/{id} polled every 20 ms). Aim: at most 2 s, and at most
1.5x the raw serial time.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.rewire_latency import FLAGS, interface_xml, serve
from tests.harness import NetworkFactory, TestHost

VMS, NICS = 20, 10


def domain_xml(name: str, network: str) -> str:
    nics = "".join(
        f"<interface type='network'><source network='{network}'/><model type='virtio'/>"
        f"<alias name='ua-nic{i}'/></interface>"
        for i in range(1, NICS + 1)
    )
    return (
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
        f"<devices>{nics}<console type='pty'/></devices></domain>"
    )


def raw_serial(doms: list[libvirt.virDomain], network: str) -> float:
    """Every card moved to `network`, one virDomainUpdateDeviceFlags after the other."""
    cards = [(d, interface_xml(d, network, f"ua-nic{i}")) for d in doms for i in range(1, NICS + 1)]
    started = time.perf_counter()
    for dom, xml in cards:
        dom.updateDeviceFlags(xml, FLAGS)
    return time.perf_counter() - started


def through_api(http: httpx.Client, source: str, target: str) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = http.post("/hosts/th/rewire", json={"from": source, "to": target})
    assert answer.status_code == 202, answer.text
    op_id = answer.json()["id"]
    while True:
        op = http.get(f"/operations/{op_id}").json()
        if op["state"] != "running":
            return time.perf_counter() - started, op
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    host = TestHost.up("bench-bulk")
    networks = NetworkFactory(host)
    conn = libvirt.open(host.uri)
    doms: list[libvirt.virDomain] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        try:
            nets = [networks.create("nat").name, networks.create("nat").name]
            # the service first: 20 QEMUs starting at once leave a 2-core machine busy
            server, url, token = serve(Path(tmp))
            for n in range(VMS):
                dom = conn.defineXML(domain_xml(f"pbbulk-{n}", nets[0]))
                dom.create()
                doms.append(dom)
            print(f"{VMS} VMs running, {VMS * NICS} vNICs on {nets[0]}")
            http = httpx.Client(
                base_url=url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=120
            )
            assert http.post("/hosts", json={"name": "th", "uri": host.uri}).status_code == 201
            assert len(http.get("/hosts/th/vms").json()) == VMS  # connection open, warm
            raw_times, api_times = [], []
            at = 0
            for n in range(args.rounds):
                for way in ("raw", "api"):
                    source, target = nets[at], nets[1 - at]
                    if way == "raw":
                        raw_times.append(raw_serial(doms, target))
                    else:
                        took, op = through_api(http, source, target)
                        assert (op["done"], op["failed"]) == (VMS * NICS, 0), op
                        api_times.append(took)
                    at = 1 - at
                print(f"  round {n + 1}: raw {raw_times[-1]:.2f} s, API {api_times[-1]:.2f} s")
            raw, api = statistics.median(raw_times), statistics.median(api_times)
            print(f"\n{VMS * NICS} vNICs on {VMS} running VMs, median of {args.rounds}:")
            print(f"  raw updateDeviceFlags, serial, one process: {raw:.2f} s")
            verdict = "met" if api <= 2.0 and api <= 1.5 * raw else "MISSED"
            print(
                f"  plugboard API, end to end:                 {api:.2f} s  "
                f"ratio {api / raw:.2f}x  (aim <= 2 s and <= 1.5x: {verdict})"
            )
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
            for dom in doms:
                try:
                    dom.destroy()
                    dom.undefine()
                except libvirt.libvirtError:
                    pass
            conn.close()
            networks.cleanup()
            host.down()


if __name__ == "__main__":
    main()
