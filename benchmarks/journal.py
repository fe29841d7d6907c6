"""The journal's cost: a live re-wire of a running guest's vNIC through the engine, journaled on
SQLite (WAL, synchronous=NORMAL as the service runs it, and synchronous=FULL: an fsync per
commit) and on PostgreSQL (fsync on), against the same change with the journal's writes and
reads replaced by nothing; and the time to recover 100 interrupted operations.

Run as root after `make guest`:  .venv/bin/python benchmarks/journal.py [--rounds 5]

Rounds are interleaved (so drift hits all variants alike); each round re-wires nic1 between
two networks `--per-round` times per variant. Prints p50 per variant and the added ms.
"""

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, insert
from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.postgres import PostgresServer

from plugboard.engine import journal, vnics
from plugboard.engine.locks import holding
from plugboard.engine.recovery import recover_vm
from plugboard.engine.tokens import Principal
from plugboard.engine.vm_state import read_vm
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Operation, Store
from plugboard.store.models import utcnow
from plugboard.vnic import Source, VnicEdit
from plugboard.vnic.model import vnic_to_json
from plugboard.vnic.xml import interface_for

BENCHMARK = Principal(0, "benchmark", "admin")  # the engine asks who changes the vNIC


def full_sync(store: Store) -> Store:
    event.listen(store.engine, "connect", lambda conn, _r: conn.execute("PRAGMA synchronous=FULL"))
    return store


def no_journal() -> contextlib.ExitStack:
    """The journal's reads and writes replaced by nothing (what a change cost before it)."""
    stack = contextlib.ExitStack()
    for name in ("begin", "advance", "finish"):
        stack.enter_context(mock.patch.object(journal, name, lambda *a, **k: None))
    stack.enter_context(mock.patch.object(journal, "vm_notes", lambda *a: journal.VmNotes()))
    return stack


def rewire(host, store, registry, vm: str, nets: list[str], n: int, flip: list[int]) -> list:
    times = []
    for _ in range(n):
        flip[0] ^= 1
        edit = VnicEdit({"source": Source("network", network=nets[flip[0]])})
        request = vnics.VnicChangeRequest(vm, "nic1", edit, BENCHMARK)
        started = time.perf_counter()
        change = vnics.change_vnic(host, registry, store, request)
        times.append((time.perf_counter() - started) * 1000)
        assert change.applied
    return times


def statements(store: Store, vm_uuid: str, n: int) -> list[float]:
    """The journal's own work for one change, without libvirt: read the VM's notes, begin,
    finish (ms each)."""
    desired = {"name": "nic1", "mac": "52:54:00:00:be:01", "model": "virtio", "plugged": True,
               "linked": True, "source": {"type": "network", "network": "bench"}}  # fmt: skip
    card = "<interface type='network'><mac address='52:54:00:00:be:01'/></interface>"
    steps = [{"step": "update", "old": card, "new": card, "vnic": "nic1", "config": True}]
    times = []
    for _ in range(n):
        started = time.perf_counter()
        journal.vm_notes(store, "bench", vm_uuid)
        entry = journal.Entry.new("bench", vm_uuid, "bench", "nic1", "change", before=desired,
                                  desired=desired, steps=steps)  # fmt: skip
        journal.begin(store, entry)
        journal.finish(store, entry, journal.DONE, baseline=desired)
        times.append((time.perf_counter() - started) * 1000)
    return times


def recovery(host, store: Store, vm: str, count: int) -> float:
    """`count` interrupted re-wires of nic1 (libvirt has each done; the journal does not know
    it): seconds to recover them all."""

    def seed(lv):
        dom = lv.domain(vm)
        state = read_vm(dom)
        nic = state.vnics["nic1"]
        card = interface_for(nic.vnic, nic.iface).format()
        desired = vnic_to_json(nic.vnic)
        step = {"step": "update", "old": card, "new": card, "vnic": "nic1",
                "desired": desired, "config": True}  # fmt: skip
        with store.session() as db:
            for i in range(count):
                db.execute(insert(Operation).values(
                    id=f"bench-{time.monotonic_ns()}-{i}", host=host.name, vm_uuid=dom.uuid,
                    vm_name=vm, vnic="nic1", kind="change", before=desired, desired=desired,
                    steps=[step], done=0, state="running", owner="bench", started_at=utcnow(),
                ))  # fmt: skip

    def recover(lv):
        dom = lv.domain(vm)
        with holding(store, host.name, dom.uuid):
            started = time.perf_counter()
            recover_vm(store, lv, dom, journal.vm_notes(store, host.name, dom.uuid), 30.0)
            return time.perf_counter() - started

    host.call(seed)
    return host.call(recover, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=30)
    args = parser.parse_args()
    testhost = TestHost.up("bench-jrnl")
    nets, guests = NetworkFactory(testhost), GuestFactory(testhost)
    postgres = PostgresServer(fsync=True).start()
    directory = Path(tempfile.mkdtemp())
    try:
        names = [nets.create().name, nets.create().name]
        guest = guests.boot(names[0], persistent=True)
        registry = HostRegistry()
        host = registry.add("th", testhost.uri)
        stores = {
            "no journal": Store(f"sqlite:///{directory / 'none.db'}"),
            "SQLite WAL (NORMAL)": Store(f"sqlite:///{directory / 'normal.db'}"),
            "SQLite WAL (FULL, fsync)": full_sync(Store(f"sqlite:///{directory / 'full.db'}")),
            "PostgreSQL (fsync on)": Store(postgres.create_database("bench")),
        }
        for store in stores.values():
            store.migrate()
        times: dict[str, list[float]] = {name: [] for name in stores}
        flip = [0]
        for name, store in stores.items():  # warm-up
            with no_journal() if name == "no journal" else contextlib.nullcontext():
                rewire(host, store, registry, guest.name, names, 4, flip)
        for n in range(args.rounds):
            for name, store in stores.items():
                with no_journal() if name == "no journal" else contextlib.nullcontext():
                    times[name] += rewire(host, store, registry, guest.name, names,
                                          args.per_round, flip)  # fmt: skip
            print(f"  round {n + 1} done")
        base = statistics.median(times["no journal"])
        print(f"\nlive re-wire through the engine, n={len(times['no journal'])} per variant:")
        for name, values in times.items():
            p50 = statistics.median(values)
            print(f"  {name:26} p50 {p50:6.2f} ms   added {p50 - base:+5.2f} ms   "
                  f"ratio {p50 / base:4.2f}x")  # fmt: skip
        print("the journal's statements alone for one change (read, begin, finish), n=300:")
        for name, store in stores.items():
            if name != "no journal":
                p50 = statistics.median(
                    statements(store, "00000000-0000-4000-8000-00000000be00", 300)
                )
                print(f"  {name:26} p50 {p50:6.2f} ms")
        for name in ("SQLite WAL (NORMAL)", "PostgreSQL (fsync on)"):
            took = recovery(host, stores[name], guest.name, 100)
            print(f"recovering 100 interrupted operations on {name}: {took:.2f} s "
                  f"({took * 10:.1f} ms each)")  # fmt: skip
        for store in stores.values():
            store.dispose()
        registry.close()
    finally:
        guests.cleanup()
        nets.cleanup()
        testhost.down()
        postgres.stop()


if __name__ == "__main__":
    main()
