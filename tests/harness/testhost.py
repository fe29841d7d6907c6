"""A private libvirt host, started and stopped with scripts/testhost."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

# libvirt prints every error to stderr besides raising it; the exception is enough.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "testhost"
ROOT = Path("/run/plugboard-testhost")


class TestHostError(RuntimeError):
    """The test host could not be started or stopped; the message carries the script's words."""


def _script(*args: str) -> str:
    result = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise TestHostError(f"scripts/testhost {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


@dataclass
class TestHost:
    """One running test host: its name, libvirt URI and directory, and a connection to it."""

    __test__ = False  # not a test class, whatever its name says

    name: str
    uri: str
    _conn: libvirt.virConnect | None = field(default=None, repr=False)
    _ovsdb: str | None = field(default=None, repr=False)

    @classmethod
    def up(cls, name: str) -> TestHost:
        return cls(name=name, uri=_script("up", name))

    def down(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None
        _script("down", self.name)

    def restart_libvirtd(self) -> None:
        """Restart the host's libvirtd; guests and dnsmasq keep running. The harness's own
        connection is opened again on next use (`conn`; handles from the old one are dead)."""
        _script("restart", self.name)
        if self._conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None

    def ovs(self) -> str:
        """Start Open vSwitch in the host (once); its OVSDB endpoint."""
        if self._ovsdb is None:
            self._ovsdb = _script("ovs", self.name)
        return self._ovsdb

    def vsctl(self, *args: str) -> str:
        """ovs-vsctl against the host's own Open vSwitch."""
        return self.run("ovs-vsctl", f"--db={self.ovs()}", "--timeout=10", *args)

    @property
    def netns(self) -> str:
        return f"pbth-{self.name}"

    @property
    def directory(self) -> Path:
        return ROOT / self.name

    @property
    def guest_dir(self) -> Path:
        """Where guests keep their console log and command socket (same path in and out)."""
        return self.directory / "guests"

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is None or not self._conn.isAlive():
            self._conn = libvirt.open(self.uri)
        return self._conn

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> str:
        """Run a command inside the host's network namespace and return its output."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise TestHostError(
                f"{' '.join(argv)} in {self.netns} exited {result.returncode}: {result.stderr}"
            )
        return result.stdout
