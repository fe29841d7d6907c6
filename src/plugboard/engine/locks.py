"""The engine's locks. Changes to one VM are serialised: by a lock per VM in this process and,
on a store shared by several service processes (PostgreSQL), by the store's advisory lock of
the VM for as long as the change runs. A new MAC is checked against every host and applied
while MAC_LOCK is held, and reserved in the store, so no two requests hand it out."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from plugboard.store import Store

_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()
MAC_LOCK = threading.Lock()


def vm_lock(host: str, uuid: str) -> threading.Lock:
    """This process's lock of one VM (by host and UUID: a VM re-made is another VM)."""
    with _guard:
        return _locks.setdefault((host, uuid), threading.Lock())


@contextlib.contextmanager
def holding(store: Store, host: str, uuid: str) -> Iterator[threading.Lock]:
    """Hold the VM against this process's threads and every other process on the store."""
    lock = vm_lock(host, uuid)
    with lock, store.lock(f"vm:{host}:{uuid}"):
        yield lock
