"""libvirt's event loop, run once per process in a thread of its own.

libvirt needs it for keepalive (noticing a dead libvirtd), close callbacks and, later, domain
and network lifecycle events. It must be registered before the first connection is opened.
"""

import threading

import libvirt

_started = threading.Event()
_lock = threading.Lock()


def ensure_event_loop() -> None:
    with _lock:
        if _started.is_set():
            return
        # libvirt also prints every error to stderr; plugboard reports them itself.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(target=_run, name="libvirt-events", daemon=True)
        thread.start()
        _started.set()


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()
