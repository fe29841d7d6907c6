"""The engine's locks: changes to one VM are serialised, and a new MAC is checked against
every host and applied while MAC_LOCK is held, so two requests cannot both take it."""

from __future__ import annotations

import threading

_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()
MAC_LOCK = threading.Lock()


def vm_lock(host: str, uuid: str) -> threading.Lock:
    """The lock of one VM (by host and UUID: a VM renamed or re-made is another VM)."""
    with _guard:
        return _locks.setdefault((host, uuid), threading.Lock())
