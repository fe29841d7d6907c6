"""Grants go with what they are on, on a real libvirtd: a VM or network deleted through
plugboard, or undefined with virsh behind its back, takes its grants along (so that another
of the same name is not granted by chance); the CLI grants, lists and revokes."""

import subprocess
import time

from tests.harness import TestHost
from tests.harness.guest import INITRD, KERNEL

BOOT = {"kernel": str(KERNEL), "initrd": str(INITRD), "cmdline": "console=ttyS0"}


def held(svc, user: str) -> set[tuple[str, str]]:
    return {(g["role"], g["object"]) for g in svc.get("/grants", params={"user": user}).json()}


def wait_until(what: str, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_grants_go_with_a_vm_undefined_by_virsh_or_deleted_through_plugboard(
    svc, testhost: TestHost
):
    assert svc.post("/users", json={"username": "dora"}).status_code == 201
    for vm in ("pbtest-gr1", "pbtest-gr2"):
        made = svc.post("/hosts/th/vms", json={"name": vm, "boot": BOOT})
        assert made.status_code == 201, made.text
        grant = {"user": "dora", "role": "vm-operator", "object": f"hosts/th/vms/{vm}"}
        assert svc.post("/grants", json=grant).status_code == 201
    assert svc.get("/hosts/th").json()["state"] == "connected"  # events flow from now on

    subprocess.run(["virsh", "-q", "-c", testhost.uri, "undefine", "pbtest-gr1"], check=True)
    gone = ("vm-operator", "hosts/th/vms/pbtest-gr1")
    wait_until("the grant on the undefined VM to go", lambda: gone not in held(svc, "dora"))
    assert held(svc, "dora") == {("vm-operator", "hosts/th/vms/pbtest-gr2")}

    assert svc.delete("/hosts/th/vms/pbtest-gr2").status_code == 204
    assert held(svc, "dora") == set()
    # a new VM under the old name is nobody's but the admin's
    assert svc.post("/hosts/th/vms", json={"name": "pbtest-gr1", "boot": BOOT}).status_code == 201
    assert held(svc, "dora") == set()
    assert svc.delete("/hosts/th/vms/pbtest-gr1").status_code == 204


def test_grant_list_and_revoke_from_the_cli(served, testhost: TestHost):
    assert served.post("/users", json={"username": "eve"}).status_code == 201
    given = served.cli("grant", "eve", "network-user", "hosts/th/networks/lab")
    assert given.returncode == 0, given.stderr
    listed = served.cli("grant-list", "eve", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert '"object": "hosts/th/networks/lab"' in listed.stdout
    wrong = served.cli("grant", "eve", "network-user", "hosts/th/vms/web1")
    assert wrong.returncode == 1
    assert "network-user is held on a network" in wrong.stderr
    revoked = served.cli("revoke", "eve", "network-user", "hosts/th/networks/lab")
    assert revoked.returncode == 0, revoked.stderr
    assert served.get("/grants", params={"user": "eve"}).json() == []
    again = served.cli("revoke", "eve", "network-user", "hosts/th/networks/lab")
    assert again.returncode == 1 and "holds no network-user" in again.stderr
