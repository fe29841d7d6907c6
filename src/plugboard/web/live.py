"""Live pages: one subscriber on the hosts' event feed (registered once, when the web UI is
installed) fans each domain event out to the browsers that have the VM's page open, as
Server-Sent Events; the page then re-fetches its live part (static/live.js).

Some changes made behind plugboard's back raise no libvirt event at all: `virsh
domif-setlink` and `virsh update-device` change a running card without one. So each open
page's stream also looks at its VM once a second (one read of the live XML on the host's
threads) and tells the page when that changed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from plugboard.api.schemas import Name
from plugboard.errors import PlugboardError
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.model import HostEvent
from plugboard.web.core import WebRoute, Who

router = APIRouter(prefix="/hosts/{host}/vms/{vm}", route_class=WebRoute)
KEEP_ALIVE = 15.0  # seconds between comments on a quiet stream (proxies close idle ones)
BACKLOG = 8  # events waiting for a slow browser; more are dropped (one re-fetch reads all)
LOOK = 1.0  # seconds between looks at an open page's VM (for changes libvirt announces not)


@dataclass(eq=False)
class Listener:
    """One open page: its event loop and the queue its stream reads."""

    host: str
    vm: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(BACKLOG))

    def offer(self, what: str) -> None:
        """Called from a host's thread: hand the event to the page's loop."""
        with contextlib.suppress(RuntimeError):  # its loop is closed: the server is stopping
            self.loop.call_soon_threadsafe(self._put, what)

    def _put(self, what: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(what)


class Hub:
    """The open VM pages, by host and VM; `__call__` is the feed's subscriber."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()

    def __call__(self, event: HostEvent, _lv: Libvirt) -> None:
        with self._lock:
            listeners = [p for p in self._listeners if p.host == event.host]
        for page in listeners:
            # A domain's events go to its page; a network's (a card's connection) and the
            # host's (reconnected, the periodic full read) to every page of the host.
            if event.kind != "domain" or page.vm == event.name:
                page.offer(f"{event.kind}-{event.what}")

    def listen(self, host: str, vm: str) -> Listener:
        page = Listener(host, vm, asyncio.get_running_loop())
        with self._lock:
            self._listeners.add(page)
        return page

    def leave(self, page: Listener) -> None:
        with self._lock:
            self._listeners.discard(page)

    def __len__(self) -> int:
        with self._lock:
            return len(self._listeners)


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.web_hub
    return hub


def _fingerprint(lv: Libvirt, vm: str) -> str:
    """What the page shows of the VM, as a digest of its state and live XML ("" if gone)."""
    if not lv.has_domain(vm):
        return ""
    dom = lv.domain(vm)
    state, _, _ = dom.info()
    return hashlib.blake2b(f"{state}\n{dom.xml()}".encode(), digest_size=16).hexdigest()


async def look(connection: HostConnection, vm: str) -> str | None:
    """The VM's fingerprint now; None when the host cannot tell (it is down)."""
    try:
        return await connection.acall(lambda lv: _fingerprint(lv, vm), timeout=LOOK * 5)
    except PlugboardError:
        return None


@router.get("/events", include_in_schema=False)
async def events(request: Request, who: Who, host: Name, vm: Name) -> StreamingResponse:
    """The VM's changes as Server-Sent Events (`event: changed`), a comment every 15 s."""
    connection = who.services.registry.get(host)  # 404 for a host that is not there
    hub = hub_of(request)
    page = hub.listen(host, vm)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            seen = await look(connection, vm)
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                try:
                    what = await asyncio.wait_for(page.queue.get(), LOOK)
                except TimeoutError:
                    now = await look(connection, vm)
                    if now is not None and seen is not None and now != seen:
                        what = "domain-looked"
                    else:
                        seen = now if now is not None else seen
                        if time.monotonic() - quiet_since >= KEEP_ALIVE:
                            quiet_since = time.monotonic()
                            yield ": keep-alive\n\n"
                        continue
                seen = await look(connection, vm)  # the page re-fetches what is there now
                quiet_since = time.monotonic()
                yield f"event: changed\ndata: {what}\n\n"
        finally:
            hub.leave(page)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
