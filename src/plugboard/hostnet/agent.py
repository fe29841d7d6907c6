"""The part of a host network change that runs on the host (issue 18):

    python -m plugboard.hostnet.agent --dir /run/plugboard/hostnet/HOST/CHANGE [--netns PATH]
    python -m plugboard.hostnet.agent read [--netns PATH]     (the host's interfaces, as JSON)

It reads the change (desired state, plan, rollback timeout, probes) from DIR/request.json,
enters the host's network namespace (the whole process: it is its own), takes a checkpoint,
applies the plan over netlink and reads it back. A mismatch or any error rolls back at once
(status `failed`, with desired, current and the diff). Otherwise the change is `waiting`:
the agent detaches (double fork, a session of its own) so that it outlives the service, and
keeps the change only when DIR/confirm appears or every probe answers before the deadline;
else it rolls back to the checkpoint (`rolled-back`).

An IPv4 `dhcp` step starts a DHCP client (plugboard.hostnet.netops.start_dhcp) with its files
in DIR, once the other steps are done, and waits for its lease; its pid is in the checkpoint
and status.json (`dhcp_clients`). A rollback stops exactly that process before it removes the
address; a confirmed change leaves it running, the host's from then on.

The timer runs here, on the host, because a change that cuts the host off also cuts off the
service that would have undone it. Every state is written to DIR/status.json (atomically),
which is all the service reads. The foreground process exits once the change is waiting or
has failed, so the service knows the outcome of the apply without waiting for the timer.

It runs with the standard library and pyroute2 only: a remote host gets it as a zip archive
(plugboard.hostnet.ship) and needs nothing but Python 3. So the desired state is read as
plain JSON (plugboard.hostnet.desired_plain), not with the service's pydantic model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pyroute2 import IPRoute
from pyroute2.netns import setns

from plugboard.hostnet import netlink, netops, persist, probe
from plugboard.hostnet.checkpoint import Snapshot, diff, mentioned, route_fixes, undo, verify
from plugboard.hostnet.desired_plain import PlainState
from plugboard.hostnet.plan import Step

if TYPE_CHECKING:
    from plugboard.hostnet.desired import NetworkState

log = logging.getLogger("plugboard.hostnet.agent")
POLL = 0.05  # seconds between looks for the confirm file (a confirmation waits at most this)


class Terminated(BaseException):
    """SIGTERM while a change waits: roll it back, as on the deadline."""


@dataclass
class Request:
    id: str
    desired: NetworkState  # a PlainState at run time: the same attributes, no pydantic
    desired_json: dict[str, Any]
    steps: list[Step]
    rollback_timeout: float = 60.0
    probes: list[str] = field(default_factory=list)
    ovsdb: str | None = None  # the host's OVSDB endpoint; None: as its libvirtd sees it
    etc_dir: str = "/etc/network"  # where a confirmed change is written (interfaces.d/)

    @classmethod
    def read(cls, path: Path) -> Request:
        raw = json.loads(path.read_text())
        return cls(
            id=raw["id"],
            desired=cast("NetworkState", PlainState(raw["desired"])),
            desired_json=raw["desired"],
            steps=[Step(**s) for s in raw["steps"]],
            rollback_timeout=float(raw.get("rollback_timeout", 60)),
            probes=list(raw.get("probes", [])),
            ovsdb=raw.get("ovsdb"),
            etc_dir=raw.get("etc_dir") or "/etc/network",
        )


def ovs_endpoint(netns: str | None) -> str:
    """The OVSDB of the host as its libvirtd sees it: /proc/PID/root is the daemon's view of
    the file system (test hosts have their own /run/openvswitch), else this machine's."""
    if netns and netns.startswith("/proc/") and netns.endswith("/ns/net"):
        return f"unix:{netns.removesuffix('/ns/net')}/root/run/openvswitch/db.sock"
    return "unix:/run/openvswitch/db.sock"


@dataclass
class Taken:
    """What a rollback needs: the netlink checkpoint, the links the change made, the OVSDB
    checkpoint of the Open vSwitch bridges it touches (None when it touches none), and the
    DHCP clients it started (interface: pid; their pid files are in the change's directory)."""

    before: Snapshot
    created: set[str]
    ovs: dict[str, Any] | None
    endpoint: str
    dhcp: dict[str, int] = field(default_factory=dict)
    directory: Path | None = None


class ChangeDir:
    """The change's directory: request.json in, status.json and checkpoint.json out, confirm
    (made by the service) in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.status: dict[str, Any] = {}

    def write(self, **values: Any) -> None:
        """status.json updated with `values`, atomically (a reader never sees half)."""
        self.status |= values | {"updated_at": time.time()}
        tmp = self.path / "status.json.tmp"
        tmp.write_text(json.dumps(self.status, indent=1, default=str))
        tmp.replace(self.path / "status.json")

    def confirmed(self) -> bool:
        return (self.path / "confirm").exists()


# --- apply ----------------------------------------------------------------------------------
def take(request: Request) -> Taken:
    """The checkpoints: netlink's whole namespace, OVSDB's touched bridges."""
    with IPRoute() as ipr:
        before = netops.snapshot(ipr)
    endpoint = request.ovsdb or ""
    touched = {i.name for i in request.desired.interfaces if i.type == "ovs-bridge"}
    ovs = _ovsops().checkpoint(endpoint, touched) if touched else None
    return Taken(before, set(), ovs, endpoint)


def _ovsops() -> Any:
    """Open vSwitch's operations, imported when a change has an Open vSwitch bridge: they
    need the `ovs` library, which the archive shipped to a remote host does not carry."""
    from plugboard.hostnet import ovsops  # noqa: PLC0415 (see the docstring)

    return ovsops


def apply(request: Request, change: ChangeDir) -> Taken | None:
    """Checkpoint, apply, verify; on any failure roll back at once and return None."""
    try:
        taken = take(request)
        taken.directory = change.path
    except Exception as err:  # OVSDB not answering: nothing was changed
        change.write(state="failed", reason=f"no checkpoint could be taken: {err}", diff=[],
                     desired=request.desired_json, current={},
                     rollback_errors=[], left_after_rollback=[])  # fmt: skip
        return None
    checkpoint = {"netlink": taken.before.to_json(), "ovsdb": taken.ovs}
    (change.path / "checkpoint.json").write_text(json.dumps(checkpoint))
    started = time.monotonic()
    try:
        refused = netops.unsupported(request.steps, request.desired)
        if refused:
            raise netops.StepFailed("; ".join(refused))
        after = _apply_steps(request, taken, change)
        wrong = verify(request.desired, after) + _ovs_verify(request, taken)
    except BaseException as err:  # KeyboardInterrupt included: the host goes back first
        _fail(change, taken, request, str(err) or type(err).__name__)
        if not isinstance(err, Exception):
            raise
        return None
    if wrong:
        _fail(change, taken, request, "read back, the host is not as asked", wrong)
        return None
    ms = (time.monotonic() - started) * 1000
    change.write(applied_ms=round(ms, 1), diff=diff(taken.before, after),
                 created=sorted(taken.created))  # fmt: skip
    return taken


def _ovs_verify(request: Request, taken: Taken) -> list[str]:
    return _ovsops().verify(taken.endpoint, request.desired) if taken.ovs is not None else []


def _apply_steps(request: Request, taken: Taken, change: ChangeDir) -> Snapshot:
    """Open vSwitch's bridges first (one transaction each), so that the steps on their
    kernel devices (MTU, addresses, up) find them; then the netlink steps; DHCP last, on
    links that are up and in their masters by then."""
    _apply_ovs(request, taken)
    with IPRoute() as ipr:
        for name in (i.name for i in request.desired.interfaces if i.type == "ovs-bridge"):
            if _ovs_wanted(request.desired, name):
                netops.wait_for_link(ipr, name)
        for step in request.steps:
            if step.action == "create":
                taken.created.add(step.interface)
            if netops.by_ovs(step, request.desired) or step.action == "dhcp":
                continue  # done in the bridge's transaction; DHCP below
            log.info("step %s %s (%s)", step.action, step.interface, step.detail)
            netops.apply_step(ipr, step, request.desired)
        for step in (s for s in request.steps if s.action == "dhcp"):
            _start_dhcp(step.interface, taken, change)
        return netops.snapshot(ipr)


def _start_dhcp(iface: str, taken: Taken, change: ChangeDir) -> None:
    """A DHCP client on `iface`, its pid in the checkpoint (and status.json) at once, so that
    a rollback stops exactly it."""
    log.info("step dhcp %s: starting a DHCP client", iface)
    taken.dhcp[iface] = netops.start_dhcp(change.path, iface)
    change.write(dhcp_clients=dict(taken.dhcp))


def _stop_dhcp(taken: Taken) -> list[str]:
    """The change's DHCP clients stopped (before the addresses they got are removed, or they
    would put them back); the errors."""
    errors: list[str] = []
    for iface, pid in taken.dhcp.items():
        pid_file = netops.DhcpFiles.under(taken.directory or Path(), iface).pid
        try:
            netops.stop_dhcp(pid, pid_file)
        except Exception as err:  # logged and reported; the rest of the rollback goes on
            log.error("%s", err)
            errors.append(f"rollback: stop DHCP client {pid} on {iface}: {err}")
    return errors


def _ovs_wanted(desired: NetworkState, name: str) -> bool:
    found = desired.find(name)
    return found is not None and found.state != "absent"


def _apply_ovs(request: Request, taken: Taken) -> None:
    if taken.ovs is None:
        return
    for iface in request.desired.interfaces:
        if iface.type != "ovs-bridge":
            continue
        log.info("Open vSwitch bridge %s: %s", iface.name, iface.state)
        if iface.state == "absent":
            _ovsops().remove_bridge(taken.endpoint, iface.name)
        else:
            _ovsops().apply_bridge(taken.endpoint, iface, taken.ovs)


def _fail(
    change: ChangeDir, taken: Taken, request: Request, why: str, wrong: list[str] | None = None
) -> None:
    log.error("change %s failed: %s %s", request.id, why, wrong or "")
    before = current = taken.before
    errors: list[str] = []
    left: list[str] = []
    try:
        with IPRoute() as ipr:
            current = netops.snapshot(ipr)
        errors, left = rollback(taken)
    except Exception as err:  # logged and reported; the change's own error stays the answer
        log.exception("rollback failed")
        errors.append(f"rollback: {err}")
    change.write(
        state="failed", reason=why, desired=request.desired_json,
        current=mentioned(request.desired, current), diff=wrong or diff(before, current),
        rollback_errors=errors, left_after_rollback=left,
    )  # fmt: skip


# --- rollback -------------------------------------------------------------------------------
def rollback(taken: Taken) -> tuple[list[str], list[str]]:
    """The host back to the checkpoint: (errors, what still differs). Each operation is tried
    even when one before it failed, so one refusal does not leave the rest undone. Open
    vSwitch first: dropping a bridge it made takes its kernel devices with it; before it, the
    DHCP clients the change started."""
    before, created = taken.before, taken.created
    errors = _stop_dhcp(taken)
    if taken.ovs is not None:
        errors += _ovsops().restore(taken.endpoint, taken.ovs)
    with IPRoute() as ipr:
        _each(ipr, undo(before, netops.snapshot(ipr), created), errors)
        _each(ipr, route_fixes(before.routes, netops.snapshot(ipr).routes), errors)
        left = diff(before, netops.snapshot(ipr))
    return errors, left


def _each(ipr: IPRoute, ops: list, errors: list[str]) -> None:
    for op in ops:
        try:
            netops.undo_op(ipr, op)
        except Exception as err:  # logged and reported; never hides the change's own error
            log.error("%s", err)
            errors.append(str(err))


# --- waiting for the confirmation -----------------------------------------------------------
def _persisted(request: Request, now: Snapshot) -> tuple[str | None, list[str]]:
    """The confirmed change written in ifupdown's format; (where, warnings)."""
    written = persist.confirmed(request.desired_json, now, Path(request.etc_dir))
    return written.path, written.warnings


def wait(request: Request, change: ChangeDir, taken: Taken, deadline: float) -> str:
    """Until confirmed (by the caller or the probes) or the `deadline` (monotonic); the
    outcome's state. A confirmed change is written down (persist) before it says so, so that
    the confirmation's answer carries where it went and its warnings."""
    try:
        by = _until_confirmed(request, change, deadline)
    except Terminated:
        by = None
    if by is not None:
        with IPRoute() as ipr:
            now = netops.snapshot(ipr)
        path, warnings = _persisted(request, now)
        change.write(state="confirmed", confirmed_by=by, finished_at=time.time(),
                     persisted=path, warnings=warnings)  # fmt: skip
        return "confirmed"
    late = time.monotonic() - deadline
    started = time.monotonic()
    errors, left = rollback(taken)
    change.write(
        state="rolled-back", reason=_why(request, late), rollback_errors=errors,
        left_after_rollback=left, finished_at=time.time(),
        rollback_ms=round((time.monotonic() - started) * 1000, 1),
        deadline_to_rolled_back_ms=round((time.monotonic() - deadline) * 1000, 1),
    )  # fmt: skip
    return "rolled-back"


def _why(request: Request, late: float) -> str:
    if late < 0:
        return "the agent was told to stop (SIGTERM) before a confirmation"
    if request.probes:
        return f"not every probe answered within {request.rollback_timeout:g} s, and no confirm"
    return f"no confirmation within {request.rollback_timeout:g} s"


def _until_confirmed(request: Request, change: ChangeDir, deadline: float) -> str | None:
    while True:
        if change.confirmed():
            return "caller"
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if request.probes and all(probe.answers(a, min(1.0, left)) for a in request.probes):
            return "probes"
        time.sleep(min(POLL, max(deadline - time.monotonic(), 0)))


def _on_term(_signum: int, _frame: Any) -> None:
    raise Terminated()


# --- the process ----------------------------------------------------------------------------
def detach(change: ChangeDir) -> bool:
    """Double fork into a session of its own, so the waiting agent outlives the service and
    its process group; True in the grandchild, which goes on. The grandchild's output goes to
    the change's log, not the pipes the service reads (they close when the foreground ends)."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return False
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    logfile = os.open(change.path / "agent.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for fd, target in ((0, null), (1, logfile), (2, logfile)):
        os.dup2(target, fd)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    change.write(agent_pid=os.getpid())
    return True


def run(directory: Path, netns: str | None) -> int:
    change = ChangeDir(directory)
    request = Request.read(directory / "request.json")
    if netns:
        setns(netns, flags=0)  # the whole process: nothing else runs in it
    signal.signal(signal.SIGTERM, _on_term)  # a stop while applying rolls back first
    change.write(id=request.id, state="applying", agent_pid=os.getpid(), started_at=time.time(),
                 steps=[asdict(s) for s in request.steps], probes=request.probes,
                 rollback_timeout=request.rollback_timeout)  # fmt: skip
    request.ovsdb = request.ovsdb or ovs_endpoint(netns)
    taken = apply(request, change)
    if taken is None:
        return 1
    deadline = time.monotonic() + request.rollback_timeout
    change.write(state="waiting", deadline=time.time() + request.rollback_timeout)
    if not detach(change):
        return 0
    wait(request, change, taken, deadline)
    os._exit(0)  # the grandchild: no atexit of a parent's interpreter state


def read(netns: str | None) -> int:
    """The host's interfaces as netlink shows them, as JSON on stdout: how the service reads a
    host it reaches over SSH (more than libvirt's interface API shows)."""
    json.dump([asdict(i) for i in netlink.read(netns)], sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plugboard.hostnet.agent")
    parser.add_argument("command", nargs="?", choices=("apply", "read"), default="apply",
                        help="apply the change in --dir, or read the host")  # fmt: skip
    parser.add_argument("--dir", type=Path, help="the change's directory (apply)")
    parser.add_argument("--netns", help="the host's network namespace (/proc/PID/ns/net)")
    args = parser.parse_args(argv)
    if args.command == "read":
        return read(args.netns)
    if args.dir is None:
        parser.error("apply needs --dir")
    logging.basicConfig(filename=args.dir / "agent.log", level=logging.INFO,
                        format="%(asctime)s %(process)d %(levelname)s %(message)s")  # fmt: skip
    return run(args.dir, args.netns)


if __name__ == "__main__":
    sys.exit(main())
