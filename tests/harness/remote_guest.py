"""A "remote host" for host network tests (issue 18, test 2): a QEMU guest under TCG running
Debian's generic kernel (8021q and bonding, which this machine's kernel lacks), with this
machine's root file system read-only over 9p, dropbear and libvirtd (scripts/build-remote-guest).

QEMU is started directly, not through libvirt. Its NICs: eth0, QEMU user networking with
only a port forward from 127.0.0.1 to its SSH (restrict=on: the guest reaches nothing);
eth1 and eth2 on a hub of their own, for the bond. The SSH keys (the client's and the
guest's host key) are made for each test session; nothing is written to ~/.ssh.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.harness.ports import free_port
from tests.harness.testhost import REPO

GUEST_DIR = REPO / "build" / "remote-guest"
BOOT_TIMEOUT = 120.0  # seconds from QEMU's start to an SSH login


class RemoteGuest:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.key = directory / "id"
        self.known_hosts = directory / "known_hosts"
        self.process: subprocess.Popen | None = None
        self.boot_seconds = 0.0

    @property
    def uri(self) -> str:
        """qemu+ssh, as hosts are reached in production. libvirt's ssh transport runs OpenSSH
        with no known_hosts of its own: `command` names a wrapper that gives it the guest's
        key, so nothing is written to root's ~/.ssh. (libvirt's libssh transport, which has a
        known_hosts parameter, crashed the test process now and then in libssh.)"""
        return (f"qemu+ssh://root@127.0.0.1:{self.port}/system?keyfile={self.key}"
                f"&known_hosts={self.known_hosts}&command={self.ssh_wrapper}")  # fmt: skip

    @property
    def ssh_wrapper(self) -> Path:
        return self.directory / "ssh"

    def _wrapper(self) -> None:
        self.ssh_wrapper.write_text(
            "#!/bin/sh\n"
            f"exec ssh -o UserKnownHostsFile={self.known_hosts} -o GlobalKnownHostsFile=/dev/null"
            ' -o StrictHostKeyChecking=yes -o BatchMode=yes "$@"\n'
        )
        self.ssh_wrapper.chmod(0o755)

    def _keys(self) -> None:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)  # fmt: skip
        (self.directory / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        dropbearkey = GUEST_DIR / "dropbear/usr/bin/dropbearkey"
        env = os.environ | {"LD_LIBRARY_PATH": str(GUEST_DIR / "dropbear/lib")}
        host_key = self.directory / "host_key"
        subprocess.run([dropbearkey, "-t", "ed25519", "-f", host_key], env=env, check=True,
                       capture_output=True)  # fmt: skip
        public = subprocess.run([dropbearkey, "-y", "-f", host_key], env=env, check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
        line = next(x for x in public.splitlines() if x.startswith("ssh-"))
        kind, key = line.split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {key}\n")
        self._wrapper()

    def _command(self) -> list[str]:
        hub = []
        for n in (1, 2):
            hub += ["-netdev", f"hubport,id=bond{n},hubid=1",
                    "-device", f"virtio-net-pci,netdev=bond{n}"]  # fmt: skip
        return [
            "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1", "-nodefaults",
            "-display", "none", "-no-reboot",
            "-kernel", str(GUEST_DIR / "vmlinuz"), "-initrd", str(GUEST_DIR / "initrd.img"),
            "-append", f"console=ttyS0 panic=-1 quiet plugboard.keys={self.directory}",
            "-serial", f"file:{self.directory / 'console.log'}",
            "-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,"
                       "multidevs=remap",
            "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22",
            "-device", "virtio-net-pci,netdev=mgmt", *hub,
        ]  # fmt: skip

    def start(self) -> RemoteGuest:
        if not (GUEST_DIR / "initrd.img").exists():
            subprocess.run([REPO / "scripts/build-remote-guest"], check=True)
        self._keys()
        started = time.monotonic()
        with (self.directory / "qemu.log").open("wb") as log:
            self.process = subprocess.Popen(self._command(), stdout=log, stderr=log,
                                            start_new_session=True)  # fmt: skip
        while self.ssh("true", check=False).returncode != 0:
            if time.monotonic() - started > BOOT_TIMEOUT or self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"the remote guest did not come up: {self.console()}")
            time.sleep(0.5)
        self.boot_seconds = time.monotonic() - started
        return self

    def ssh(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o",
               f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
               "-i", str(self.key), "-p", str(self.port), "root@127.0.0.1", *command]  # fmt: skip
        return subprocess.run(ssh, capture_output=True, text=True, timeout=60, check=check)

    def links(self) -> dict[str, dict]:
        """`ip -j -d link` of the guest, by name."""
        return {i["ifname"]: i for i in json.loads(self.ssh("ip", "-j", "-d", "link").stdout)}

    def console(self) -> str:
        path = self.directory / "console.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
