"""Live pages: one subscriber on the hosts' event feed (registered once, when the web UI is
installed) fans each event out to the browsers that have a page open which shows what the
event is about, as Server-Sent Events; the page then re-fetches its live parts
(static/live.js). Three kinds of page listen:

- a VM's page (`vm`, by VM): its domain's events, and every network's (a card's connection);
- a network's page (`network`, by network): its network's events, and every domain's (the
  VMs using it, their leases);
- a host's networks table (`networks`) and VMs table (`vms`): every network's and domain's
  events (connections, states).

The host's own events (reconnected, the periodic full read) go to every page of the host.

Some changes made behind plugboard's back raise no libvirt event at all: `virsh
domif-setlink` and `update-device` change a running card, `net-update` a network's DHCP
hosts, and a guest's new lease is no event either. So the stream of a VM's or a network's page
also looks at it once a second (one read on the host's threads: the VM's live XML, the
network's XML and leases) and tells the page when that changed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from plugboard.api.schemas import Name
from plugboard.engine import policy
from plugboard.errors import PlugboardError
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.model import HostEvent
from plugboard.web.core import WebRoute, Who

router = APIRouter(prefix="/hosts/{host}", route_class=WebRoute)
KEEP_ALIVE = 15.0  # seconds between comments on a quiet stream (proxies close idle ones)
BACKLOG = 8  # events waiting for a slow browser; more are dropped (one re-fetch reads all)
LOOK = 1.0  # seconds between looks at what an open page shows (for changes without events)
Scope = Literal["vm", "network", "networks", "vms"]


@dataclass(eq=False)
class Listener:
    """One open page: what it shows, its event loop and the queue its stream reads."""

    host: str
    scope: Scope
    name: str  # the VM or network ("" for a host's networks table)
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(BACKLOG))

    def hears(self, event: HostEvent) -> bool:
        if event.kind == "domain":
            return self.scope != "vm" or self.name == event.name
        if event.kind == "network":
            return self.scope != "network" or self.name == event.name
        return True  # the host's own: reconnected, the periodic full read

    def offer(self, what: str) -> None:
        """Called from a host's thread: hand the event to the page's loop."""
        with contextlib.suppress(RuntimeError):  # its loop is closed: the server is stopping
            self.loop.call_soon_threadsafe(self._put, what)

    def _put(self, what: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(what)


class Hub:
    """The open pages, by host; `__call__` is the feed's subscriber."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()

    def __call__(self, event: HostEvent, _lv: Libvirt) -> None:
        with self._lock:
            listeners = [p for p in self._listeners if p.host == event.host]
        for page in listeners:
            if page.hears(event):
                page.offer(f"{event.kind}-{event.what}")

    def listen(self, host: str, scope: Scope, name: str = "") -> Listener:
        page = Listener(host, scope, name, asyncio.get_running_loop())
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


# --- what a page shows, as a digest ("" when it is not there) ---------------------------------
def _digest(*parts: object) -> str:
    return hashlib.blake2b("\n".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def vm_fingerprint(lv: Libvirt, vm: str) -> str:
    """A VM's state and live XML."""
    if not lv.has_domain(vm):
        return ""
    dom = lv.domain(vm)
    state, _, _ = dom.info()
    return _digest(state, dom.xml())


def network_fingerprint(lv: Libvirt, name: str) -> str:
    """A network's state, XML and DHCP leases."""
    if not lv.has_network(name):
        return ""
    net = lv.network(name)
    active = net.is_active()
    leases: list[str] = []
    if active:
        with contextlib.suppress(PlugboardError):  # libvirt's test driver has none, for one
            leases = sorted(map(repr, net.dhcp_leases()))
    return _digest(active, net.autostart(), net.xml(), leases)


Look = Callable[[Libvirt], str]


async def look(connection: HostConnection, fingerprint: Look | None) -> str | None:
    """What the page shows, now; None when the host cannot tell (it is down) or the page
    has nothing to look at (its events tell all)."""
    if fingerprint is None:
        return None
    try:
        return await connection.acall(fingerprint, timeout=LOOK * 5)
    except PlugboardError:
        return None


def stream(
    request: Request, who: Who, host: str, scope: Scope, name: str, fingerprint: Look | None
) -> StreamingResponse:
    """The page's changes as Server-Sent Events (`event: changed`), a comment every 15 s."""
    connection = who.services.registry.get(host)  # 404 for a host that is not there
    # what the page shows: 404 for what the viewer may not see, as the page itself
    seen = {"vm": policy.vm_object, "network": policy.network_object}.get(scope)
    policy.require(
        who.principal,
        policy.Action.SEE,
        seen(host, name) if seen is not None else policy.host_object(host),
    )
    hub = hub_of(request)
    page = hub.listen(host, scope, name)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            seen = await look(connection, fingerprint)
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                try:
                    what = await asyncio.wait_for(page.queue.get(), LOOK)
                except TimeoutError:
                    now = await look(connection, fingerprint)
                    if now is not None and seen is not None and now != seen:
                        what = "looked"
                    else:
                        seen = now if now is not None else seen
                        if time.monotonic() - quiet_since >= KEEP_ALIVE:
                            quiet_since = time.monotonic()
                            yield ": keep-alive\n\n"
                        continue
                seen = await look(connection, fingerprint)  # the page re-fetches what is now
                quiet_since = time.monotonic()
                yield f"event: changed\ndata: {what}\n\n"
        finally:
            hub.leave(page)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get("/vms/{vm}/events", include_in_schema=False)
async def vm_events(request: Request, who: Who, host: Name, vm: Name) -> StreamingResponse:
    return stream(request, who, host, "vm", vm, lambda lv: vm_fingerprint(lv, vm))


@router.get("/live/networks", include_in_schema=False)
async def networks_events(request: Request, who: Who, host: Name) -> StreamingResponse:
    return stream(request, who, host, "networks", "", None)


@router.get("/live/vms", include_in_schema=False)
async def vms_events(request: Request, who: Who, host: Name) -> StreamingResponse:
    return stream(request, who, host, "vms", "", None)


@router.get("/live/networks/{name}", include_in_schema=False)
async def network_events(request: Request, who: Who, host: Name, name: Name) -> StreamingResponse:
    return stream(request, who, host, "network", name, lambda lv: network_fingerprint(lv, name))
