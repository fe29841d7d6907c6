"""Hosts through the API, against real libvirt test hosts."""

import concurrent.futures
import socket
import time

from tests.harness import TestHost
from tests.unit.test_api_auth import assert_problem


def test_a_test_host_is_connected_with_its_versions(services, testhost: TestHost):
    svc = services.make()
    created = svc.post("/hosts", json={"name": "th", "uri": testhost.uri})
    assert created.status_code == 201
    assert created.headers["location"] == "/api/v1/hosts/th"
    assert created.json()["state"] == "disconnected"  # opened on first use, not before

    host = svc.get("/hosts/th").json()

    assert host["state"] == "connected"
    assert host["error"] is None
    assert host["hypervisor"] == "QEMU"
    assert host["libvirt_version"] == "9.0.0"
    assert host["hypervisor_version"].startswith("7.2.")
    assert host["domain_type"] in ("kvm", "qemu")
    assert host["connected_since"] is not None
    assert svc.patch("/hosts/th", json={"domain_type": "qemu"}).json()["domain_type"] == "qemu"


def test_a_missing_socket_is_unreachable_and_other_hosts_are_unaffected(
    services, testhost: TestHost
):
    svc = services.make()
    svc.post("/hosts", json={"name": "good", "uri": testhost.uri})
    missing = "qemu:///system?socket=/run/plugboard-testhost/none/libvirt-sock"
    svc.post("/hosts", json={"name": "gone", "uri": missing})

    gone = svc.get("/hosts/gone").json()
    started = time.monotonic()
    good = svc.get("/hosts/good").json()
    listed = {h["name"]: h["state"] for h in svc.get("/hosts").json()}
    elapsed = time.monotonic() - started

    assert gone["state"] == "unreachable"
    assert "/run/plugboard-testhost/none/libvirt-sock" in gone["error"]
    assert "No such file or directory" in gone["error"]
    assert good["state"] == "connected"
    assert listed == {"gone": "unreachable", "good": "connected", "local": "connected"}
    assert elapsed < 1.0


def test_a_hung_host_does_not_slow_requests_for_other_hosts(services, testhost: TestHost):
    """A libvirtd that accepts the connection and never answers (a hung daemon, a black-holed
    link): requests for it wait a bounded time; requests for other hosts do not wait at all."""
    svc = services.make()
    path = testhost.directory / "hung.sock"
    hung = socket.socket(socket.AF_UNIX)
    hung.bind(str(path))
    hung.listen(8)  # never accepted: connect() succeeds, no answer ever comes
    try:
        svc.post("/hosts", json={"name": "good", "uri": testhost.uri})
        svc.post("/hosts", json={"name": "hung", "uri": f"qemu:///system?socket={path}"})
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            started = time.monotonic()
            slow = pool.submit(svc.get, "/hosts/hung")
            time.sleep(0.5)  # the hung host's request is in flight
            good_started = time.monotonic()
            good = svc.get("/hosts/good").json()
            good_took = time.monotonic() - good_started
            hung_view = slow.result().json()
            hung_took = time.monotonic() - started
        assert good["state"] == "connected"
        assert good_took < 1.0
        assert hung_view["state"] == "connecting"
        assert 4.5 < hung_took < 7.0  # GET_TIMEOUT bounds it
    finally:
        hung.close()  # libvirt's pending connect fails now and its thread ends
        path.unlink()


def test_a_host_reconnects_by_itself_when_its_libvirtd_restarts(services, more_testhosts):
    host = more_testhosts.up()
    svc = services.make()
    svc.post("/hosts", json={"name": "th", "uri": host.uri})
    before = svc.get("/hosts/th").json()
    assert before["state"] == "connected"

    host.restart_libvirtd()

    # The listing never connects by itself: what it shows is the background reconnect's work.
    def state():
        return next(h for h in svc.get("/hosts").json() if h["name"] == "th")

    deadline = time.monotonic() + 20
    while (now := state())["connected_since"] in (None, before["connected_since"]):
        assert time.monotonic() < deadline, f"no reconnect: {now}"
        time.sleep(0.1)
    assert now["state"] == "connected"
    assert now["connected_since"] > before["connected_since"]


def test_bad_host_input_is_refused_and_changes_nothing(services):
    svc = services.make()
    before = svc.get("/hosts").json()
    assert_problem(
        svc.post("/hosts", json={"name": "x", "uri": "http://h1/"}), 422, "VALIDATION_ERROR"
    )
    assert_problem(
        svc.post("/hosts", json={"name": "x", "uri": "qemu:///nowhere"}), 422, "VALIDATION_ERROR"
    )
    assert_problem(
        svc.post("/hosts", json={"name": "bad name", "uri": "test:///default"}),
        422,
        "VALIDATION_ERROR",
    )
    assert_problem(
        svc.post("/hosts", json={"name": "local", "uri": "test:///default"}), 409, "HOST_EXISTS"
    )
    assert_problem(svc.get("/hosts/nope"), 404, "HOST_NOT_FOUND")
    assert_problem(svc.patch("/hosts/local", json={"uri": "ftp://x"}), 422, "VALIDATION_ERROR")
    assert svc.get("/hosts").json() == before
