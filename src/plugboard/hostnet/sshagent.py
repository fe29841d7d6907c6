"""The agent on a remote host, reached over SSH (issue 18, item 5): the service's side.

The agent's zip archive (plugboard.hostnet.ship) is copied to the host once per version, as
/var/lib/plugboard/plugboard-agent-HASH.pyz, and run there with the host's own python3. A
change's directory lives on the host (/var/lib/plugboard/hostnet/CHANGE): the request is
written there, the agent applies it and holds the rollback timer there, and the service
reads status.json back into its own copy of the directory and writes `confirm` there.

What a remote host needs: an SSH server that lets the service in as root (or a user allowed
to change the network) with the URI's key, and Python 3.9 or newer. Nothing else is
installed; the archive carries pyroute2.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
from pathlib import Path

from plugboard.errors import HostError
from plugboard.hostnet import ship
from plugboard.hostnet.model import HostInterface
from plugboard.hostnet.ssh import SshTarget

log = logging.getLogger(__name__)
REMOTE_ROOT = "/var/lib/plugboard"
READ_TIMEOUT = 60.0  # seconds a read of the host's interfaces may take
SHORT_TIMEOUT = 30.0  # seconds a status read, a confirm or a copy may take
_SHIPPED: set[tuple[SshTarget, str]] = set()  # (host, archive digest) known to be there
_SHIPPED_GUARD = threading.Lock()


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def agent_path(archive: ship.Archive) -> str:
    return f"{REMOTE_ROOT}/{archive.name}"


def ensure_agent(target: SshTarget) -> str:
    """The agent's path on the host, copied there first if that version is not (one SSH
    round trip when it is, two when it is not)."""
    archive = ship.archive()
    path = agent_path(archive)
    with _SHIPPED_GUARD:
        if (target, archive.digest) in _SHIPPED:
            return path
    q = shlex.quote(path)
    # a copy that was cut off is never taken for the archive: it is written beside, then moved
    script = f"test -s {q} || {{ mkdir -p {REMOTE_ROOT} && cat > {q}.$$ && mv {q}.$$ {q}; }}"
    done = target.run(_sh(script), SHORT_TIMEOUT, stdin=archive.data)
    if done.returncode != 0:
        raise HostError(f"cannot copy the agent to {target}: {_tail(done.stderr)}")
    with _SHIPPED_GUARD:
        _SHIPPED.add((target, archive.digest))
    return path


def _tail(output: bytes) -> str:
    return output.decode(errors="replace").strip()[-800:] or "no message"


def read(target: SshTarget) -> list[HostInterface]:
    """The host's interfaces as the agent reads them there (netlink)."""
    agent = ensure_agent(target)
    done = target.run(["python3", agent, "read"], READ_TIMEOUT)
    if done.returncode != 0:
        raise HostError(f"the agent on {target} could not read the host: {_tail(done.stderr)}")
    try:
        return [HostInterface(**item) for item in json.loads(done.stdout)]
    except (ValueError, TypeError) as err:
        raise HostError(f"the agent on {target} answered what is not a listing: {err}") from None


class SshAgent:
    """A change's agent on a remote host; `path` is the service's copy of the change's
    directory (request.json in it, status.json copied back into it)."""

    poll = 2.0  # seconds between reads of a waiting change's status (an SSH round trip each)

    def __init__(self, target: SshTarget) -> None:
        self.target = target

    def remote_dir(self, path: Path) -> str:
        return f"{REMOTE_ROOT}/hostnet/{path.name}"

    def apply(self, path: Path, timeout: float) -> str:
        """Run the agent on the host for the change in `path`; its stderr (for a report)."""
        agent = ensure_agent(self.target)
        where = shlex.quote(self.remote_dir(path))
        script = (f"mkdir -p -m 0700 {where} && cat > {where}/request.json && "
                  f"exec python3 {shlex.quote(agent)} --dir {where}")  # fmt: skip
        done = self.target.run(_sh(script), timeout, stdin=(path / "request.json").read_bytes())
        self.refresh(path)
        return _tail(done.stderr)

    def refresh(self, path: Path) -> None:
        """The host's status.json copied into `path` (kept as it was when it cannot be read)."""
        done = self.target.run(["cat", f"{self.remote_dir(path)}/status.json"], SHORT_TIMEOUT)
        try:
            status = json.loads(done.stdout) if done.returncode == 0 else None
        except ValueError:
            status = None
        if isinstance(status, dict):
            tmp = path / "status.json.tmp"
            tmp.write_text(json.dumps(status))
            tmp.replace(path / "status.json")

    def confirm(self, path: Path) -> None:
        done = self.target.run(["touch", f"{self.remote_dir(path)}/confirm"], SHORT_TIMEOUT)
        if done.returncode != 0:
            raise HostError(f"cannot confirm on {self.target}: {_tail(done.stderr)}")
