"""Bulk operations in progress (the bulk re-wire, plugboard.engine.rewire): each has an id
(uuid4), the user who started it, and a result per vNIC that fills in as the work goes on;
whoever waits for the next change (the API's Server-Sent Events) is woken at each one.

They are kept in the service's memory only: a restart forgets them (each vNIC change they
made is in the audit log, and in the vNIC journal while it runs). This is not the store's
`operations` table, which is the journal of single vNIC changes (plugboard.engine.journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from plugboard.errors import OperationNotFound, PlugboardError
from plugboard.store.models import utcnow

if TYPE_CHECKING:
    from plugboard.engine.tokens import Principal

# pending: not finished yet; planned: a dry run's plan; ok: re-wired (and verified, when
# asked); failed: its change failed (or its undo did); rolled-back: re-wired, then moved back
# because another vNIC of its VM failed; skipped: not tried, another vNIC of its VM failed.
Outcome = Literal["pending", "planned", "ok", "failed", "rolled-back", "skipped"]
# lease: a new DHCP lease on the new network; no-lease: none before the deadline;
# not-active: not verified (the VM is not running, or the vNIC is unplugged or unlinked).
Verified = Literal["lease", "no-lease", "not-active"]
KEEP_FINISHED = 1000  # finished operations kept (the oldest are forgotten first)


@dataclass
class VnicResult:
    """One vNIC of a bulk operation: where it was, what was done, how it ended."""

    vm: str
    vnic: str
    mac: str
    slot_before: str | None
    outcome: Outcome = "pending"
    plan: list[str] = field(default_factory=list)  # the plan's kinds: live-update, ...
    slot: str | None = None  # its PCI address now (a dry run: as planned)
    network: str | None = None  # the network it is wired to now
    error: dict[str, str] | None = None  # {code, detail}
    lease_ip: str | None = None
    verify: Verified | None = None

    @property
    def finished(self) -> bool:
        return self.outcome != "pending"


@dataclass
class Operation:
    """A bulk operation. Its results change on worker threads: read it through `view()`."""

    kind: Literal["rewire"]
    host: str
    user_id: int
    user: str
    params: dict[str, Any]
    results: list[VnicResult]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: Literal["running", "finished"] = "running"
    created_at: dt.datetime = field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    version: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(
        default_factory=set, repr=False
    )

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def done(self) -> int:
        return sum(r.finished for r in self.results)

    @property
    def failed(self) -> int:
        """vNICs that did not end where they were asked to go (failed, rolled back, skipped)."""
        return sum(r.outcome in ("failed", "rolled-back", "skipped") for r in self.results)

    def update(self, result: VnicResult, **changes: Any) -> None:
        """Change one result (from a worker thread) and wake whoever waits."""
        with self._lock:
            for name, value in changes.items():
                setattr(result, name, value)
            self._changed()

    def finish(self) -> None:
        with self._lock:
            for result in self.results:  # nothing is left pending, whatever happened
                if not result.finished:
                    result.outcome = "failed"
                    result.error = result.error or {
                        "code": PlugboardError.code,
                        "detail": "the operation ended before this vNIC was done",
                    }
            self.state, self.finished_at = "finished", utcnow()
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        for loop, event in self._waiting:
            with contextlib.suppress(RuntimeError):  # its loop is closed: the server stops
                loop.call_soon_threadsafe(event.set)

    def view(self) -> Operation:
        """A copy as it is now, consistent, to present."""
        with self._lock:
            return Operation(
                kind=self.kind,
                host=self.host,
                user_id=self.user_id,
                user=self.user,
                params=dict(self.params),
                results=copy.deepcopy(self.results),
                id=self.id,
                state=self.state,
                created_at=self.created_at,
                finished_at=self.finished_at,
                version=self.version,
            )

    @contextlib.contextmanager
    def watching(self) -> Any:
        """An asyncio.Event set at each change while the block runs (on the running loop)."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.add(waiter)
        try:
            yield waiter[1]
        finally:
            with self._lock:
                self._waiting.discard(waiter)


class Operations:
    """The service's operations, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: OrderedDict[str, Operation] = OrderedDict()

    def add(self, operation: Operation) -> None:
        with self._lock:
            self._operations[operation.id] = operation
            finished = [k for k, o in self._operations.items() if o.state == "finished"]
            for key in finished[: max(0, len(finished) - KEEP_FINISHED)]:
                del self._operations[key]

    def get(self, who: Principal, operation_id: str) -> Operation:
        """The operation, for its creator, an admin, or an admin's read-only token; for
        anyone else, as if there were none (404)."""
        with self._lock:
            found = self._operations.get(operation_id)
        may = found is not None and (who.is_admin or who.reads_all or found.user_id == who.user_id)
        if found is None or not may:
            raise OperationNotFound(
                f"no operation '{operation_id}' (operations are kept in the service's memory "
                "and forgotten when it restarts)"
            )
        return found
