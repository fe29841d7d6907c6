"""Running commands on a remote host over the SSH its libvirt URI names (issue 18, item 5):

    qemu+ssh://[user@]host[:port]/system[?keyfile=K&known_hosts=F&no_verify=1]

(qemu+libssh:// and qemu+libssh2:// too: the same SSH server, other client libraries). The
OpenSSH client `ssh` is run with what the URI says: user, port, `-i keyfile`, the known_hosts
file, and StrictHostKeyChecking=no only when the URI says no_verify=1, as libvirt does. It
never asks anything (BatchMode) and gives up connecting after CONNECT_TIMEOUT.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from plugboard.errors import HostError, HostTimeout, HostUnreachable

SCHEMES = ("qemu+ssh", "qemu+libssh", "qemu+libssh2")
CONNECT_TIMEOUT = 10  # seconds
SSH_FAILED = 255  # ssh's own exit status: it could not connect or log in


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None = None
    port: int | None = None
    keyfile: str | None = None
    known_hosts: str | None = None
    no_verify: bool = False

    @classmethod
    def from_uri(cls, uri: str) -> SshTarget | None:
        """The SSH side of a libvirt URI, or None when the URI is not reached over SSH."""
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES or not parts.hostname:
            return None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            host=parts.hostname,
            user=parts.username,
            port=parts.port,
            keyfile=query.get("keyfile"),
            known_hosts=query.get("known_hosts"),
            no_verify=query.get("no_verify", "0") not in ("", "0"),
        )

    def options(self) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", "-T"]
        if self.user:
            opts += ["-l", self.user]
        if self.port:
            opts += ["-p", str(self.port)]
        if self.keyfile:
            opts += ["-i", self.keyfile, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            opts += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.no_verify:
            opts += ["-o", "StrictHostKeyChecking=no"]
        elif self.known_hosts:
            opts += ["-o", "StrictHostKeyChecking=yes"]
        return opts

    def command(self, remote: list[str]) -> list[str]:
        """The local command line that runs `remote` (quoted for the remote shell)."""
        return ["ssh", *self.options(), "--", self.host, shlex.join(remote)]

    def run(
        self, remote: list[str], timeout: float, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """`remote` run on the host; HOST_UNREACHABLE when SSH cannot connect or log in,
        HOST_TIMEOUT when it does not end in `timeout` seconds; its own exit status is the
        caller's to judge."""
        try:
            done = subprocess.run(
                self.command(remote), input=stdin, capture_output=True, timeout=timeout,
                check=False, start_new_session=True,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise HostTimeout(
                f"{self}: `{shlex.join(remote)}` did not end in {timeout:g} s"
            ) from None
        except OSError as err:  # no ssh client on this machine
            raise HostError(f"cannot run ssh: {err}") from None
        if done.returncode == SSH_FAILED:
            why = done.stderr.decode(errors="replace").strip()[-500:]
            raise HostUnreachable(f"cannot reach {self} over SSH: {why or 'ssh failed'}")
        return done

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"
