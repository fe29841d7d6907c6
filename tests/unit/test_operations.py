"""Bulk operations in memory (plugboard.engine.operations): counts, the end, who may read
one, how many are kept, and the wake-up of whoever waits for a change."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from plugboard.engine import operations
from plugboard.engine.operations import Operation, Operations, VnicResult
from plugboard.engine.tokens import Principal
from plugboard.errors import OperationNotFound

ALICE = Principal(2, "alice", "user")
BOB = Principal(3, "bob", "user")
ADMIN = Principal(1, "admin", "admin")
READER = Principal(1, "admin", "user", reads_all=True)


def operation(by: Principal = ALICE, vnics: int = 3) -> Operation:
    results = [VnicResult("vm1", f"nic{i}", f"52:54:00:00:00:0{i}", None) for i in range(vnics)]
    return Operation("rewire", "h1", by.user_id, by.user, {"from": "a", "to": "b"}, results)


def test_done_counts_finished_vnics_and_failed_those_not_where_they_were_asked_to_go():
    op = operation(vnics=4)
    first, second, third, _ = op.results
    op.update(first, outcome="ok")
    op.update(second, outcome="rolled-back")
    op.update(third, outcome="skipped")
    assert (op.total, op.done, op.failed, op.state) == (4, 3, 2, "running")
    op.finish()  # nothing is left pending
    assert (op.done, op.failed, op.state) == (4, 3, "finished")
    assert op.results[3].outcome == "failed" and op.results[3].error is not None
    assert op.finished_at is not None


def test_a_view_is_a_copy_that_later_changes_do_not_touch():
    op = operation()
    view = op.view()
    op.update(op.results[0], outcome="ok", network="b")
    assert (view.results[0].outcome, view.version) == ("pending", 0)
    assert (op.view().results[0].network, op.view().version) == ("b", 1)


def test_an_operation_is_its_creators_and_the_admins_and_missing_for_others():
    ops = Operations()
    op = operation(ALICE)
    ops.add(op)
    for who in (ALICE, ADMIN, READER):
        assert ops.get(who, op.id) is op
    with pytest.raises(OperationNotFound):
        ops.get(BOB, op.id)
    with pytest.raises(OperationNotFound):
        ops.get(ADMIN, "00000000-0000-0000-0000-000000000000")


def test_only_the_last_finished_operations_are_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(operations, "KEEP_FINISHED", 2)
    ops = Operations()
    running = operation()
    ops.add(running)
    made = []
    for _ in range(4):
        op = operation()
        op.finish()
        ops.add(op)
        made.append(op)
    with pytest.raises(OperationNotFound):
        ops.get(ADMIN, made[0].id)
    assert ops.get(ADMIN, made[-1].id) is made[-1]
    assert ops.get(ADMIN, running.id) is running  # a running one is never forgotten


def test_a_change_on_another_thread_wakes_the_waiting_loop():
    op = operation()

    async def wait() -> int:
        with op.watching() as changed:
            threading.Timer(0.05, op.update, (op.results[0],), {"outcome": "ok"}).start()
            await asyncio.wait_for(changed.wait(), 5)
        return op.version

    # On a thread of its own: in a whole run, the browser tests' Playwright keeps an event loop
    # running on the main thread, where asyncio.run may not start another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, wait()).result(timeout=30) == 1
