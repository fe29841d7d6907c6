"""The CLI on a real test host: vm-shutdown and --wait, the spinner of a long wait, and
re-tagging an Open vSwitch vNIC without naming its bridge again."""

import contextlib
import json
import os
import re
import select
import subprocess
import sys
import time

import libvirt
import pytest

from tests.harness.guest import INITRD, KERNEL


@pytest.fixture
def quick(services, testhost):
    """A served service whose guests get 3 s to release a hot-unplugged card."""
    service = services.serve(hotunplug_timeout=3.0)
    assert service.post("/hosts", json={"name": "th", "uri": testhost.uri}).status_code == 201
    return service


def with_terminal_stderr(service, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """The command with its stderr on a pseudo-terminal (as a person runs it) and its stdout
    on a pipe: (exit code, stdout, what the terminal showed)."""
    env = os.environ | {
        "PLUGBOARD_URL": service.settings.api_url,
        "PLUGBOARD_TOKEN": service.token,
        "PLUGBOARD_HOTUNPLUG_TIMEOUT": "3",
        "COLUMNS": "100",
    }
    controller, terminal = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugboard", *args],
        stdout=subprocess.PIPE, stderr=terminal, env=env, text=True,
    )  # fmt: skip
    os.close(terminal)
    shown, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the command exited: the terminal is closed
                break
            shown += chunk
    os.close(controller)
    out = proc.stdout.read() if proc.stdout else ""
    return proc.wait(timeout=10), out, shown.decode(errors="replace")


def countdown(shown: str, message: str) -> list[int]:
    """The seconds left a spinner showed after `message`, in order, each once."""
    seconds = [int(s) for s in re.findall(re.escape(message) + r": (\d+) s left", shown)]
    return list(dict.fromkeys(seconds))


def test_vm_shutdown_says_it_was_requested_and_wait_waits_for_it(quick, guests, networks):
    net = networks.create()
    stops, ignores = guests.boot(net.name, persistent=True), guests.boot(net.name, persistent=True)

    done = quick.cli("vm-shutdown", stops.name, "--host", "th", "--wait")
    assert done.returncode == 0, done.stderr
    assert f"shutdown of {stops.name} requested" in done.stdout
    assert ["state", "shut-off"] in [line.split() for line in done.stdout.splitlines()]
    assert not stops.dom.isActive()

    # a guest that ignores the power button: a clear error when the time is up
    ignores.check("printf '#!/bin/sh\\n' > /etc/acpi/poweroff")
    code, out, shown = with_terminal_stderr(
        quick, "vm-shutdown", ignores.name, "--host", "th", "--wait", "--timeout", "3"
    )
    assert code == 1
    assert f"shutdown of {ignores.name} requested" in out
    assert f"{ignores.name} did not power off within 3 s" in shown
    assert f"vm-destroy {ignores.name}" in shown
    assert len(countdown(shown, f"waiting for {ignores.name} to power off")) >= 2
    assert ignores.dom.isActive()


def test_a_hot_unplug_the_guest_does_not_acknowledge_shows_a_countdown(quick, guests, networks):
    guest = guests.boot(networks.create().name, persistent=True)
    guest.dom.suspend()  # a paused guest cannot acknowledge the unplug
    args = ("nic-set", guest.name, "nic1", "--host", "th", "--unplug")

    code, _, shown = with_terminal_stderr(quick, *args)
    assert code == 1 and "HOTUNPLUG_TIMEOUT" in shown
    seconds = countdown(shown, f"nic1 of {guest.name}: a hot-unplug waits for the guest")
    assert len(seconds) >= 2 and seconds == sorted(seconds, reverse=True), shown

    piped = quick.cli(*args)  # no terminal: no spinner, only the error
    assert piped.returncode == 1
    assert piped.stderr.startswith("error:") and "s left" not in piped.stderr


def test_vlan_alone_re_tags_an_ovs_vnic(served, testhost, ovs_bridge):
    name = f"pbtest-cli-{os.getpid()}"
    made = served.cli(
        "vm-create", name, "--host", "th", "--kernel", str(KERNEL), "--initrd", str(INITRD)
    )
    try:
        assert made.returncode == 0, made.stderr
        added = served.cli("nic-add", name, "--ovs", ovs_bridge, "--vlan", "100", "--host", "th")
        assert added.returncode == 0, added.stderr

        retag = served.cli("nic-set", name, "nic1", "--vlan", "200", "--host", "th", "-o", "json")
        assert retag.returncode == 0, retag.stderr
        source = {"type": "ovs", "bridge": ovs_bridge, "vlan": 200, "trunk": None}
        assert json.loads(retag.stdout)["vnic"]["source"] == source
        trunk = served.cli("nic-set", name, "nic1", "--trunk", "100,200", "--host", "th")
        assert trunk.returncode == 0, trunk.stderr
        nic = served.get(f"/hosts/th/vms/{name}/nics/nic1").json()
        assert nic["source"] == source | {"vlan": None, "trunk": [100, 200]}
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            testhost.conn.lookupByName(name).undefine()
