"""The pure parts of DHCP on a host interface (plugboard.hostnet.netops, checkpoint): what is
refused, the clients' command lines and files, the client's script, and verify with DHCP."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from plugboard.hostnet import netops
from plugboard.hostnet.checkpoint import Link, Snapshot, verify
from plugboard.hostnet.desired import NetworkState
from plugboard.hostnet.netops import DhcpFiles, dhcp_command, unsupported
from plugboard.hostnet.plan import Step

FILES = DhcpFiles.under(Path("/run/plugboard/hostnet/th/c1"), "bond0.7")


def dhcp_on(addresses: list[str]) -> NetworkState:
    eth1 = {"name": "eth1", "type": "ethernet", "ipv4": {"dhcp": True, "addresses": addresses}}
    return NetworkState.model_validate({"interfaces": [eth1]})


def test_dhcpv6_is_refused_and_ipv4_needs_a_client_program(monkeypatch):
    steps = [Step("dhcp", "eth1", "ipv4", "asked"), Step("dhcp", "eth1", "ipv6", "asked")]
    monkeypatch.setattr(netops, "dhcp_program", lambda: ["/sbin/dhclient"])
    assert unsupported(steps, dhcp_on([])) == [
        "dhcp eth1: DHCPv6 is not applied yet (only IPv4's DHCP is)"
    ]
    monkeypatch.setattr(netops, "dhcp_program", lambda: None)
    assert unsupported(steps[:1], dhcp_on([])) == [
        "dhcp: this host has no DHCP client (dhclient, or busybox's udhcpc)"
    ]


def test_the_clients_files_are_the_changes_and_keep_an_interfaces_dots():
    assert FILES.pid == Path("/run/plugboard/hostnet/th/c1/dhcp-bond0.7.pid")
    assert FILES.leases.name == "dhcp-bond0.7.leases"
    assert FILES.log.name == "dhcp-bond0.7.log"


def test_dhclient_and_udhcpc_command_lines():
    assert dhcp_command(["/sbin/dhclient"], "bond0.7", FILES, 30) == [
        "/sbin/dhclient", "-4", "-1", "-cf", str(FILES.conf), "-pf", str(FILES.pid),
        "-lf", str(FILES.leases), "-sf", str(FILES.script), "bond0.7",
    ]  # fmt: skip
    assert dhcp_command(["/bin/busybox", "udhcpc"], "eth1", FILES, 30) == [
        "/bin/busybox", "udhcpc", "-i", "eth1", "-p", str(FILES.pid), "-s", str(FILES.script),
        "-n", "-t", "10", "-T", "3",
    ]  # fmt: skip


def test_verify_with_dhcp_wants_the_static_addresses_and_one_from_the_lease():
    def host(*addresses: str) -> Snapshot:
        return Snapshot({"eth1": Link("eth1", "veth", True, 1500, addresses=addresses)})

    assert verify(dhcp_on([]), host("10.94.0.23/24")) == []
    assert verify(dhcp_on([]), host()) == ["eth1: ipv4 has no address from DHCP"]
    assert verify(dhcp_on(["10.1.0.1/24"]), host("10.1.0.1/24")) == [
        "eth1: ipv4 has no address from DHCP"
    ]
    assert verify(dhcp_on(["10.1.0.1/24"]), host("10.94.0.23/24")) == [
        "eth1: ipv4 10.1.0.1/24 missing"
    ]


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"reason": "BOUND", "new_ip_address": "10.94.0.23", "new_subnet_mask": "255.255.252.0",
          "new_dhcp_lease_time": "3600", "new_routers": "10.94.0.1 10.94.0.2"},
         [], ["link set dev eth1 up",
              "-4 addr replace 10.94.0.23/22 dev eth1 valid_lft 3600 preferred_lft 3600",
              "-4 route add default via 10.94.0.1 dev eth1"]),
        ({"reason": "STOP", "old_ip_address": "10.94.0.23", "old_subnet_mask": "255.255.255.0"},
         [], ["-4 addr del 10.94.0.23/24 dev eth1"]),
        ({"ip": "10.94.0.24", "subnet": "255.255.255.128", "lease": "600"},
         ["bound"], ["link set dev eth1 up",
                     "-4 addr replace 10.94.0.24/25 dev eth1 valid_lft 600 preferred_lft 600"]),
    ],
)  # fmt: skip
def test_the_clients_script_sets_the_leases_address_with_its_lifetime(
    tmp_path: Path, env: dict, args: list, expected: list
):
    """The script run with a stand-in `ip` that only says what it was asked to do (and that
    the host has no default route)."""
    (tmp_path / "ip").write_text('#!/bin/sh\ncase "$*" in *"route show"*) exit;; esac\n'
                                 f'echo "$@" >> {tmp_path}/said\n')  # fmt: skip
    (tmp_path / "ip").chmod(0o755)
    script = tmp_path / "script"
    script.write_text(netops.DHCP_SCRIPT)
    path = f"{tmp_path}:{os.environ['PATH']}"
    env = {"PATH": path, "interface": "eth1", **env}
    subprocess.run(["sh", str(script), *args], env=env, check=True)
    said = (tmp_path / "said").read_text().splitlines()
    assert said == expected
