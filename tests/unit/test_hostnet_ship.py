"""The agent shipped to remote hosts (plugboard.hostnet.ship, .ssh, .desired_plain): what the
archive needs on a host, and the SSH command a host's URI gives."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import zipfile

import pytest

from plugboard.errors import HostUnreachable
from plugboard.hostnet import ship
from plugboard.hostnet.desired import NetworkState
from plugboard.hostnet.desired_plain import PlainState
from plugboard.hostnet.ssh import SshTarget


def test_ship_archive_runs_with_the_standard_library_only(tmp_path):
    """-I -S: no site-packages, so neither plugboard's install nor pydantic is there."""
    path = tmp_path / "agent.pyz"
    path.write_bytes(ship.archive().data)
    done = subprocess.run([sys.executable, "-I", "-S", str(path), "read"],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "lo" in {i["name"] for i in json.loads(done.stdout)}


WRITE = """
import json, sys
from pathlib import Path
from plugboard.hostnet import persist
from plugboard.hostnet.checkpoint import Link, Snapshot
assert "pydantic" not in sys.modules
links = {"br0": Link("br0", "bridge", True, 1500, settings={"forward_delay": 1500},
                     addresses=("10.0.0.1/24",)),
         "eth1": Link("eth1", "veth", True, 1500, master="br0")}
written = persist.confirmed(json.loads(sys.argv[1]), Snapshot(links), Path(sys.argv[2]))
print(json.dumps([written.path, written.warnings]))
"""


def test_ship_archive_writes_a_confirmed_change_with_the_standard_library_only(tmp_path):
    """The ifupdown writer (plugboard.hostnet.persist) runs from the archive, without pydantic:
    a remote host writes a confirmed change down too."""
    path = tmp_path / "agent.pyz"
    path.write_bytes(ship.archive().data)
    # a NetworkState's JSON as the service sends it (only what differs from the defaults)
    desired = {"interfaces": [{"name": "br0", "type": "bridge", "bridge": {"ports": ["eth1"]}}]}
    code = f"import sys; sys.path.insert(0, {str(path)!r})\n{WRITE}"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code,
                           json.dumps(desired), str(tmp_path / "etc")],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    target = tmp_path / "etc/interfaces.d/plugboard"
    assert json.loads(done.stdout)[0] == str(target)
    assert "auto br0\niface br0 inet static\n    bridge_ports eth1\n" in target.read_text()


def test_ship_archive_is_the_same_bytes_each_build():
    first = ship.archive().data
    ship.archive.cache_clear()
    assert ship.archive().data == first
    names = zipfile.ZipFile(__import__("io").BytesIO(first)).namelist()
    assert "__main__.py" in names and "plugboard/hostnet/agent.py" in names
    assert not [n for n in names if n.startswith("pydantic")]


def test_ship_plain_state_reads_what_the_model_writes():
    state = NetworkState.model_validate({"interfaces": [
        {"name": "bond0", "type": "bond", "bond": {"mode": "balance-rr", "ports": ["eth1"]}},
        {"name": "bond0.7", "type": "vlan", "vlan": {"base": "bond0", "id": 7},
         "ipv4": {"addresses": ["192.0.2.1/24"]}},
    ]})  # fmt: skip
    plain = PlainState(state.model_dump(mode="json"))
    bond = plain.find("bond0")
    assert bond is not None and bond.ports() == ["eth1"] and bond.bond.miimon == 100
    assert plain.find("bond0.7").vlan.id == 7
    assert plain.find("bond0.7").ipv4.addresses == ["192.0.2.1/24"]
    assert plain.find("nope") is None and plain.routes == []


def test_ssh_target_from_uri():
    t = SshTarget.from_uri("qemu+ssh://root@10.0.0.5:2222/system?keyfile=/k/id&known_hosts=/k/kh")
    assert t == SshTarget("10.0.0.5", "root", 2222, "/k/id", "/k/kh", False)
    cmd = t.command(["cat", "a b"])
    assert cmd[-2:] == ["10.0.0.5", "cat 'a b'"]
    opts = " ".join(cmd)
    for want in ("BatchMode=yes", "ConnectTimeout=", "-l root", "-p 2222", "-i /k/id",
                 "UserKnownHostsFile=/k/kh", "StrictHostKeyChecking=yes"):  # fmt: skip
        assert want in opts
    loose = SshTarget.from_uri("qemu+ssh://h/system?no_verify=1")
    assert loose is not None and "StrictHostKeyChecking=no" in loose.command(["true"])
    assert SshTarget.from_uri("qemu:///system") is None
    assert SshTarget.from_uri("qemu+tcp://h/system") is None


def test_ssh_refused_is_host_unreachable():
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = SshTarget.from_uri(f"qemu+ssh://root@127.0.0.1:{port}/system?no_verify=1")
    assert target is not None
    with pytest.raises(HostUnreachable, match=r"cannot reach root@127\.0\.0\.1"):
        target.run(["true"], timeout=20)
