"""Applying a host network change (issue 18): plan it, hand it to the agent that runs on the
host (plugboard.hostnet.agent), answer once the host has applied and verified it, and follow
it until it is confirmed or rolled back.

The agent, not the service, holds the rollback timer: a change that cuts the host off is
undone by the host. The service only reads the change's status.json and writes its confirm
file, so a service that dies while a change waits loses nothing: the host rolls back alone,
and a service that starts again reads the outcome (and puts it in the audit log) from the
same directory.

A local host (its libvirtd runs on this machine) is reached by running the agent in the
daemon's network namespace (LocalAgent). A remote one whose URI is reached over SSH
(qemu+ssh://) gets the agent as a zip archive and runs it there (plugboard.hostnet.sshagent);
the change's directory is then on the host, and this service keeps a copy of its status.
Any other remote URI (qemu+tcp, qemu+tls) is refused with HOST_NOT_LOCAL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import plugboard
from plugboard.engine import audit, policy
from plugboard.engine.hostnet import checked_plan
from plugboard.engine.policy import Action, host_object
from plugboard.engine.tokens import Principal
from plugboard.errors import (
    ChangeFailed,
    ChangeNotFound,
    ChangePending,
    HostError,
    HostNotLocal,
    NoChangeWaiting,
    PlugboardError,
)
from plugboard.hostnet import netlink
from plugboard.hostnet.desired import NetworkState
from plugboard.hostnet.ssh import SshTarget
from plugboard.hostnet.sshagent import SshAgent
from plugboard.hosts.connection import HostConnection
from plugboard.store import Store

log = logging.getLogger(__name__)
AGENT_TIMEOUT = 120.0  # seconds an apply (checkpoint, steps, read back) may take
CONFIRM_WAIT = 5.0  # seconds a confirmation waits for the agent to take it
TERMINAL = ("confirmed", "rolled-back", "failed")
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class ChangeRequest:
    desired: NetworkState
    rollback_timeout: float = 60.0
    probes: list[str] = field(default_factory=list)
    etc_dir: str = "/etc/network"  # where the host writes the change once it is confirmed


@dataclass(frozen=True)
class HostChange:
    """A change as its status.json says."""

    id: str
    host: str
    status: dict[str, Any]

    @property
    def state(self) -> str:
        return str(self.status.get("state", "applying"))


# --- where changes live -----------------------------------------------------------------------
def host_dir(run_dir: Path, host: HostConnection) -> Path:
    """One directory per host, named by its name and URI (two services with a host of the
    same name on different machines' daemons do not share one)."""
    digest = hashlib.sha256(host.uri.encode()).hexdigest()[:10]
    return run_dir / f"{host.name}-{digest}"


def etc_dir(setting: str, host: HostConnection) -> str:
    """The host's ifupdown directory from the `hostnet_etc_dir` setting ('{host}': its name)."""
    return setting.replace("{host}", host.name)


def _lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


def _status(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((path / "status.json").read_text()))
    except (OSError, ValueError):
        return {}


def _changes(root: Path) -> list[Path]:
    """The host's changes, oldest first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)


def _waiting(root: Path) -> Path | None:
    return next((p for p in reversed(_changes(root)) if _status(p).get("state") == "waiting"), None)


def _waiting_now(root: Path, uri: str) -> Path | None:
    """The change that waits, its status read from the host first (a remote host's copy here
    may say `waiting` after the host rolled it back)."""
    path = _waiting(root)
    if path is None:
        return None
    agent_for(uri).refresh(path)
    return path if _status(path).get("state") == "waiting" else None


# --- how the agent is reached -----------------------------------------------------------------
class Agent(Protocol):
    """Where a host's agent runs, and how the service reads and confirms its changes."""

    poll: float  # seconds between reads of a waiting change's status

    def apply(self, path: Path, timeout: float) -> str: ...  # stderr, for a report

    def refresh(self, path: Path) -> None: ...  # status.json in `path` up to date

    def confirm(self, path: Path) -> None: ...


class LocalAgent:
    """The agent run here, in the network namespace of the host's libvirtd; the change's
    directory is the service's own."""

    poll = 0.2

    def __init__(self, netns: str) -> None:
        self.netns = netns

    def apply(self, path: Path, timeout: float) -> str:
        return _run_agent(path, self.netns, timeout)

    def refresh(self, path: Path) -> None:
        """Nothing to do: the agent writes status.json in `path` itself."""

    def confirm(self, path: Path) -> None:
        (path / "confirm").touch()


def agent_for(uri: str) -> Agent:
    """The agent of a host: local (its libvirtd runs here), over SSH, or HOST_NOT_LOCAL."""
    target = SshTarget.from_uri(uri)
    if target is not None:
        return SshAgent(target)
    return LocalAgent(local_netns(uri))


# --- apply ------------------------------------------------------------------------------------
def local_netns(uri: str) -> str:
    """The network namespace of a host whose libvirtd runs here, or HOST_NOT_LOCAL."""
    socket_path = netlink.daemon_socket(uri)
    if socket_path is None:
        raise HostNotLocal(
            "nothing was changed: this host's libvirtd runs on another machine and its URI is "
            "not reached over SSH (qemu+ssh://), which a network change needs; ?dry_run=true "
            "shows the plan"
        )
    try:
        return f"/proc/{netlink.daemon_pid(socket_path)}/ns/net"
    except OSError as err:
        raise HostError(f"cannot reach the host's libvirtd at {socket_path}: {err}") from None


def apply_change(
    host: HostConnection, by: Principal, asked: ChangeRequest, run_dir: Path, store: Store
) -> HostChange:
    """Plan (refusals: PLAN_REFUSED), apply on the host, answer once it is applied and
    verified (the change then waits for its confirmation) or has failed (CHANGE_FAILED,
    nothing changed)."""
    planned = checked_plan(host, by, asked.desired)
    root = host_dir(run_dir, host)
    with _lock(root):
        waiting = _waiting_now(root, host.uri)
        if waiting is not None:
            raise ChangePending(
                f"change {waiting.name} waits for its confirmation on {host.name}: confirm it "
                "or let it roll back first", change=waiting.name)  # fmt: skip
        path = root / str(uuid.uuid4())
        path.mkdir(parents=True, mode=0o700)
        steps = [s.__dict__ for s in planned.steps]
        if not steps:
            return _nothing_to_do(host, path, asked)
        agent = agent_for(host.uri)
        _write_request(path, asked, steps)
        _check_outcome(path, agent.apply(path, AGENT_TIMEOUT))
    change = HostChange(path.name, host.name, _status(path))
    if change.state == "failed":
        _record_outcome(store, host.name, path)
        raise _failure(change)
    _watch(store, host.name, path, agent)
    return change


def _nothing_to_do(host: HostConnection, path: Path, asked: ChangeRequest) -> HostChange:
    status = {"id": path.name, "state": "confirmed", "confirmed_by": "nothing to do",
              "steps": [], "diff": [], "rollback_timeout": asked.rollback_timeout,
              "probes": asked.probes, "finished_at": time.time()}  # fmt: skip
    (path / "status.json").write_text(json.dumps(status))
    return HostChange(path.name, host.name, status)


def _write_request(path: Path, asked: ChangeRequest, steps: list[dict[str, Any]]) -> None:
    request = {"id": path.name, "desired": asked.desired.model_dump(mode="json"),
               "steps": steps, "rollback_timeout": asked.rollback_timeout,
               "probes": asked.probes, "etc_dir": asked.etc_dir}  # fmt: skip
    (path / "request.json").write_text(json.dumps(request))


def _run_agent(path: Path, netns: str, timeout: float) -> str:
    """The agent in a session of its own (a signal to the service's process group does not
    reach it); it exits once the change waits or has failed, and goes on detached. Its
    stderr, for a report."""
    source = str(Path(plugboard.__file__).resolve().parents[1])
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    }
    command = [
        sys.executable,
        "-m",
        "plugboard.hostnet.agent",
        "--dir",
        str(path),
        "--netns",
        netns,
    ]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout,
            start_new_session=True, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise HostError(f"the host did not apply the change within {timeout:g} s "
                        f"(its log: {path / 'agent.log'})") from None  # fmt: skip
    return f"exit {done.returncode}: {done.stderr.strip()[-800:]}"


def _check_outcome(path: Path, report: str) -> None:
    """HOST_ERROR when the agent ended without saying how the apply went (the detached agent
    may have ended the change already: probes that answer at once)."""
    if _status(path).get("state") not in ("waiting", *TERMINAL):
        raise HostError(f"the host's agent ended without an outcome ({report})")


def _failure(change: HostChange) -> ChangeFailed:
    s = change.status
    return ChangeFailed(
        f"nothing was changed: the host rolled the change back at once: {s.get('reason')}",
        change=change.id, desired=s.get("desired"), current=s.get("current"),
        diff=s.get("diff", []), rollback_errors=s.get("rollback_errors", []),
    )  # fmt: skip


# --- read and confirm -------------------------------------------------------------------------
def get_change(
    host: HostConnection, by: Principal, change_id: str, run_dir: Path, store: Store
) -> HostChange:
    policy.require(by, Action.MANAGE, host_object(host.name))
    path = host_dir(run_dir, host) / change_id
    if path.is_dir() and _status(path).get("state") not in TERMINAL:
        agent_for(host.uri).refresh(path)
    status = _status(path)
    if not status:
        raise ChangeNotFound(f"host {host.name} has no network change {change_id}")
    if status.get("state") in TERMINAL:
        _record_outcome(store, host.name, path)  # a service that was down meanwhile
    return HostChange(change_id, host.name, status)


def confirm(host: HostConnection, by: Principal, run_dir: Path, store: Store) -> HostChange:
    """Keep the change that waits (NO_CHANGE_WAITING if none does, or it rolled back)."""
    policy.require(by, Action.MANAGE, host_object(host.name))
    root = host_dir(run_dir, host)
    path = _waiting_now(root, host.uri)
    if path is None:
        raise NoChangeWaiting(_none_waiting(root, host.name))
    agent = agent_for(host.uri)
    agent.confirm(path)
    deadline = time.monotonic() + CONFIRM_WAIT
    while (state := _status(path).get("state")) == "waiting" and time.monotonic() < deadline:
        time.sleep(0.02)
        agent.refresh(path)
    change = HostChange(path.name, host.name, _status(path))
    if state != "confirmed":
        why = change.status.get("reason", "its deadline passed")
        raise NoChangeWaiting(
            f"change {path.name} was not kept: it is {state} ({why})", change=path.name
        )
    _record_outcome(store, host.name, path)
    return change


def _none_waiting(root: Path, host: str) -> str:
    changes = _changes(root)
    if not changes:
        return f"no network change waits on {host}: none was applied"
    last = _status(changes[-1])
    why = f": {last['reason']}" if last.get("reason") else ""
    return f"no network change waits on {host}: the last one ({changes[-1].name}) is " + (
        f"{last.get('state')}{why}"
    )


# --- the audit log of what the host did on its own --------------------------------------------
def _watch(store: Store, host: str, path: Path, agent: Agent) -> None:
    """Follow a waiting change until it ends, and log how (the host's confirmation by probes
    or rollback is no request of anyone's). A host that cannot be read for a while (the
    change cut it off) is read again: it rolls back by itself."""

    def follow() -> None:
        while _status(path).get("state") not in TERMINAL:
            time.sleep(agent.poll)
            with contextlib.suppress(PlugboardError):
                agent.refresh(path)
        _record_outcome(store, host, path)

    threading.Thread(target=follow, name=f"hostnet-{path.name[:8]}", daemon=True).start()


def _record_outcome(store: Store, host: str, path: Path) -> None:
    """The end of a change in the audit log, once (the marker file says it was)."""
    try:
        os.close(os.open(path / "audited", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    s = _status(path)
    data = {key: s.get(key) for key in ("reason", "diff", "steps", "rollback_errors",
            "left_after_rollback", "confirmed_by", "deadline_to_rolled_back_ms",
            "persisted", "warnings", "dhcp_clients")}  # fmt: skip
    with contextlib.suppress(Exception), store.session() as db:  # the store may be closing
        audit.record(
            db, actor="plugboard", action=f"host network change {s.get('state')}",
            target=f"hosts/{host}/network-state/changes/{path.name}", status=0,
            result=str(s.get("state")), detail=s.get("reason") or s.get("confirmed_by"),
            duration_ms=_took(s),
            data=data,
        )  # fmt: skip


def _took(status: dict[str, Any]) -> float:
    """Milliseconds from the agent's start to the change's end (0 for nothing to do)."""
    end = status.get("updated_at") or 0.0
    return 1000 * (end - (status.get("started_at") or end))
