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

from plugboard.hostnet import netlink, netops, probe
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
        )


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
def apply(request: Request, change: ChangeDir) -> tuple[Snapshot, set[str]] | None:
    """Checkpoint, apply, verify; on any failure roll back at once and return None."""
    with IPRoute() as ipr:
        before = netops.snapshot(ipr)
    (change.path / "checkpoint.json").write_text(json.dumps(before.to_json()))
    created: set[str] = set()
    started = time.monotonic()
    try:
        refused = netops.unsupported(request.steps, request.desired)
        if refused:
            raise netops.StepFailed("; ".join(refused))
        after = _apply_steps(request, created)
    except BaseException as err:  # KeyboardInterrupt included: the host goes back first
        _fail(change, before, created, request, str(err) or type(err).__name__)
        if not isinstance(err, Exception):
            raise
        return None
    wrong = verify(request.desired, after)
    if wrong:
        _fail(change, before, created, request, "read back, the host is not as asked", wrong)
        return None
    ms = (time.monotonic() - started) * 1000
    change.write(applied_ms=round(ms, 1), diff=diff(before, after), created=sorted(created))
    return before, created


def _apply_steps(request: Request, created: set[str]) -> Snapshot:
    with IPRoute() as ipr:
        for step in request.steps:
            log.info("step %s %s (%s)", step.action, step.interface, step.detail)
            netops.apply_step(ipr, step, request.desired)
            if step.action == "create":
                created.add(step.interface)
        return netops.snapshot(ipr)


def _fail(
    change: ChangeDir,
    before: Snapshot,
    created: set[str],
    request: Request,
    why: str,
    wrong: list[str] | None = None,
) -> None:
    log.error("change %s failed: %s %s", request.id, why, wrong or "")
    current = before
    errors: list[str] = []
    left: list[str] = []
    try:
        with IPRoute() as ipr:
            current = netops.snapshot(ipr)
        errors, left = rollback(before, created)
    except Exception as err:  # logged and reported; the change's own error stays the answer
        log.exception("rollback failed")
        errors.append(f"rollback: {err}")
    change.write(
        state="failed", reason=why, desired=request.desired_json,
        current=mentioned(request.desired, current), diff=wrong or diff(before, current),
        rollback_errors=errors, left_after_rollback=left,
    )  # fmt: skip


# --- rollback -------------------------------------------------------------------------------
def rollback(before: Snapshot, created: set[str]) -> tuple[list[str], list[str]]:
    """The host back to `before`: (errors, what still differs). Each operation is tried even
    when one before it failed, so one refusal does not leave the rest undone."""
    errors: list[str] = []
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
def wait(
    request: Request, change: ChangeDir, before: Snapshot, created: set[str], deadline: float
) -> str:
    """Until confirmed (by the caller or the probes) or the `deadline` (monotonic); the
    outcome's state."""
    try:
        by = _until_confirmed(request, change, deadline)
    except Terminated:
        by = None
    if by is not None:
        change.write(state="confirmed", confirmed_by=by, finished_at=time.time())
        return "confirmed"
    late = time.monotonic() - deadline
    started = time.monotonic()
    errors, left = rollback(before, created)
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
    applied = apply(request, change)
    if applied is None:
        return 1
    before, created = applied
    deadline = time.monotonic() + request.rollback_timeout
    change.write(state="waiting", deadline=time.time() + request.rollback_timeout)
    if not detach(change):
        return 0
    wait(request, change, before, created, deadline)
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
