"""Two `plugboard serve` processes on one PostgreSQL store, eight clients split across them:
MACs handed out concurrently are never the same, and conflicting changes to one VM are each
serialised and answered (200, 409 or 412, never a 5xx), ending as a serial replay of those
that succeeded."""

from __future__ import annotations

import concurrent.futures
import itertools
import random
from collections import Counter
from collections.abc import Iterator

import httpx
import libvirt
import pytest
from lxml import etree

from plugboard.vnic.metadata import NS
from tests.faults.crashable import CrashableService
from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.postgres import PostgresServer

VM = "/hosts/local/vms"
CLIENTS = 8


@pytest.fixture
def replicas(
    testhost: TestHost, postgres: PostgresServer, tmp_path, request
) -> Iterator[list[CrashableService]]:
    url = postgres.create_database(f"replicas_{request.node.name[5:30]}")
    made = []
    try:
        for n in range(2):  # one after the other: the first migrates the store
            service = CrashableService(tmp_path / f"r{n}", testhost.uri, database_url=url)
            service.directory.mkdir()
            service.start()
            made.append(service)
        yield made
    finally:
        for service in made:
            service.stop()


def clients(replicas: list[CrashableService]) -> list[httpx.Client]:
    return [replicas[n % len(replicas)].client() for n in range(CLIENTS)]


def macs_of(dom: libvirt.virDomain) -> list[str]:
    root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    cards = root.xpath("./devices/interface/mac/@address")
    kept = root.xpath("./metadata/p:vnics/p:vnic/p:interface/p:mac/@address", namespaces={"p": NS})
    return [m.lower() for m in [*cards, *kept]]


def test_two_replicas_never_hand_out_a_mac_twice(replicas, testhost: TestHost):
    nets, guests = NetworkFactory(testhost), GuestFactory(testhost)
    try:
        net = nets.create(persistent=True)
        vms = [guests.boot(net.name, persistent=True, wait=False) for _ in range(4)]
        for guest in vms:
            guest.dom.destroy()  # stopped: each addition is one new definition, quick
        pool = clients(replicas)
        jobs = [(pool[n % CLIENTS], vms[n % len(vms)].name) for n in range(200)]
        body = {"plugged": False, "source": {"type": "network", "network": net.name}}

        def add(job: tuple[httpx.Client, str]) -> httpx.Response:
            http, vm = job
            return http.post(f"{VM}/{vm}/nics", json=body)

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as run:
            answers = list(run.map(add, jobs))
        statuses = Counter(a.status_code for a in answers)
        assert all(s < 500 for s in statuses), statuses
        made = [a.json()["vnic"]["mac"] for a in answers if a.status_code == 201]
        assert len(made) == len(set(made)), "a MAC was handed out twice"
        on_hosts = [m for g in vms for m in macs_of(g.dom)]
        assert len(on_hosts) == len(set(on_hosts)), "two vNICs share a MAC"
        assert set(made) <= set(on_hosts), "a vNIC answered 201 is missing"
        assert statuses[201] >= 190, statuses  # the rest told to retry: 409, never lost
        print(f"\n200 concurrent allocations over 2 replicas: {dict(statuses)}, "
              f"{len(set(made))} distinct MACs")  # fmt: skip
        for http in pool:
            http.close()
    finally:
        guests.cleanup()
        nets.cleanup()


def test_conflicting_changes_to_one_vm_are_serialised_and_replay_serially(
    replicas, testhost: TestHost
):
    nets, guests = NetworkFactory(testhost), GuestFactory(testhost)
    try:
        net = nets.create(persistent=True)
        guest = guests.boot(net.name, persistent=True, wait=False)
        guest.dom.destroy()
        path = f"{VM}/{guest.name}/nics/nic1"
        pool = clients(replicas)
        first = pool[0].get(path)
        start = first.headers["etag"]
        values = iter(random.Random(7).sample(range(1000, 10**6), 50))
        take = itertools.count()

        def change(http: httpx.Client) -> list[tuple[int, str, str | None, int]]:
            done = []
            while next(take) < 50:
                read = http.get(path)
                value = next(values)
                answer = http.patch(
                    path,
                    json={"bandwidth": {"inbound": {"average": value}}},
                    headers={"If-Match": read.headers["etag"]},
                )
                done.append((answer.status_code, read.headers["etag"],
                             answer.headers.get("etag"), value))  # fmt: skip
            return done

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as run:
            results = [r for rs in run.map(change, pool) for r in rs]
        statuses = Counter(status for status, *_ in results)
        assert len(results) == 50
        assert set(statuses) <= {200, 409, 412}, statuses
        succeeded = [(before, after, value) for status, before, after, value in results
                     if status == 200]  # fmt: skip
        # Serialised: each success started from the state the previous one left, so they
        # chain from the first ETag to the last, each ETag taken once.
        following = {before: (after, value) for before, after, value in succeeded}
        assert len(following) == len(succeeded), "two changes started from the same state"
        etag, replayed = start, None
        for _ in succeeded:
            etag, replayed = following[etag]
        final = pool[1].get(path)
        assert final.headers["etag"] == etag
        assert final.json()["bandwidth"] == {"inbound": {"average": replayed}}
        print(f"\n50 conflicting changes over 2 replicas: {dict(statuses)}")
        for http in pool:
            http.close()
    finally:
        guests.cleanup()
        nets.cleanup()
