"""One libvirt connection per host.

The connection is opened on first use and kept. libvirt calls run on the host's own small
thread pool, so a slow or dead host only ever holds its own threads, never the service's event
loop nor other hosts' requests. When the connection drops (libvirtd restarted, network gone),
a close callback marks it and a background thread reopens it with exponential backoff; while a
host is known to be down, calls fail at once with the last libvirt error.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import libvirt

from plugboard.errors import HostError, HostTimeout, HostUnreachable
from plugboard.hosts import feed
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.errors import error_message, translate
from plugboard.hosts.events import ensure_event_loop
from plugboard.hosts.model import HostEvent, HostInfo, HostState

log = logging.getLogger(__name__)
T = TypeVar("T")
Connector = Callable[[str], libvirt.virConnect]


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def read_info(conn: libvirt.virConnect) -> HostInfo:
    caps = ET.fromstring(conn.getCapabilities())
    kvm = caps.find("./guest/arch/domain[@type='kvm']") is not None
    return HostInfo(
        hostname=conn.getHostname(),
        libvirt_version=_version(conn.getLibVersion()),
        hypervisor=conn.getType(),
        hypervisor_version=_version(conn.getVersion()),
        kvm_available=kvm,
    )


class HostConnection:
    def __init__(
        self,
        name: str,
        uri: str,
        *,
        connector: Connector = libvirt.open,
        workers: int = 4,
        call_timeout: float = 30.0,
        reconnect_max_delay: float = 30.0,
        subscribers: feed.Subscribers | None = None,
    ) -> None:
        self.name = name
        self.uri = uri
        self._connector = connector
        self._call_timeout = call_timeout
        self._max_delay = reconnect_max_delay
        self._subscribers = subscribers or feed.Subscribers()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, f"libvirt-{name}")
        self._lock = threading.Lock()
        self._mail_lock = threading.Lock()
        self._mailboxes: dict[feed.Subscriber, collections.deque[HostEvent]] = {}
        self._conn: libvirt.virConnect | None = None
        self._closed = False
        self._retry_thread: threading.Thread | None = None
        self.state = HostState.DISCONNECTED
        self.error: str | None = None
        self.info: HostInfo | None = None
        self.connected_since: datetime | None = None

    # --- calls -------------------------------------------------------------------------
    def call(self, fn: Callable[[Libvirt], T], timeout: float | None = None) -> T:
        """Run `fn(libvirt)` on this host's threads, with the host's libvirt adapter."""
        future = self._start(fn)
        try:
            return future.result(timeout or self._call_timeout)
        except concurrent.futures.TimeoutError:
            raise self._timeout(timeout) from None
        except concurrent.futures.CancelledError:  # still queued when the host was removed
            raise HostUnreachable(self._removed()) from None

    async def acall(self, fn: Callable[[Libvirt], T], timeout: float | None = None) -> T:
        """`call` for the event loop: awaits the host's thread without a thread of its own."""
        future = self._start(fn)
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), timeout or self._call_timeout
            )
        except TimeoutError:
            raise self._timeout(timeout) from None
        except asyncio.CancelledError:
            if future.cancelled():  # still queued when the host was removed
                raise HostUnreachable(self._removed()) from None
            raise  # the request itself was cancelled

    def _start(self, fn: Callable[[Libvirt], T]) -> concurrent.futures.Future[T]:
        try:
            return self._pool.submit(self._run, fn)
        except RuntimeError:  # the pool is shut down: removed (or re-made) while a request ran
            raise HostUnreachable(self._removed()) from None

    def _removed(self) -> str:
        return (
            f"host '{self.name}' was removed or its URI changed while this request ran; "
            "try again (`plugboard host-list` shows the hosts)"
        )

    @property
    def removed(self) -> bool:
        return self._closed

    def _timeout(self, timeout: float | None) -> HostTimeout:
        return HostTimeout(
            f"host '{self.name}' did not answer within {timeout or self._call_timeout:g} s"
        )

    def submit(self, fn: Callable[[Libvirt], object]) -> None:
        """Run `fn(libvirt)` on this host's threads later; nobody waits for it (errors are
        logged)."""

        def run() -> None:
            try:
                self._run(fn)
            except Exception:
                log.exception("host %s: background work failed", self.name)

        self._submit(run)

    def _submit(self, fn: Callable[..., object], *args: object) -> None:
        try:
            self._pool.submit(fn, *args)
        except RuntimeError:  # the pool is shut down: the host was removed
            log.debug("host %s was removed; %s is dropped", self.name, getattr(fn, "__name__", fn))

    def connect(self, timeout: float | None = None) -> HostState:
        """Open the connection if it is not open (within `timeout`); return the state (a
        failure is in it: `state` unreachable and `error`)."""
        try:
            self.call(lambda _lv: None, timeout)
        except HostError as err:
            log.debug("host %s: %s", self.name, err.detail)
        return self.state

    def start_connecting(self) -> concurrent.futures.Future | None:
        """Begin opening a never-opened connection on the host's threads; don't wait."""
        if self.state is not HostState.DISCONNECTED:
            return None
        return self._pool.submit(self._open)

    def _run(self, fn: Callable[[Libvirt], T]) -> T:
        conn = self._open()
        try:
            return fn(Libvirt(conn, self.name))
        except HostUnreachable as err:
            self._lost(conn, err.detail.removeprefix(f"host '{self.name}': "))
            raise
        except libvirt.libvirtError as err:  # a bug: a call made around the adapter
            log.error("host %s: libvirt called outside the adapter", self.name)
            translated = translate(err, conn, self.name)
            if isinstance(translated, HostUnreachable):
                self._lost(conn, error_message(err))
            raise translated from err

    def _open(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is not None:
                return self._conn
            if self._closed:
                raise HostUnreachable(self._removed())
            if self.state is HostState.UNREACHABLE:
                raise HostUnreachable(f"host '{self.name}' is unreachable: {self.error}")
            return self._open_locked()

    def _open_locked(self) -> libvirt.virConnect:
        ensure_event_loop()
        if self.state is HostState.DISCONNECTED:
            self.state = HostState.CONNECTING
        try:
            conn = self._connector(self.uri)
            _keepalive(conn)
            info = read_info(conn)
        except libvirt.libvirtError as err:
            self._mark_unreachable(error_message(err))
            raise HostUnreachable(f"host '{self.name}' is unreachable: {self.error}") from err
        except (ValueError, TypeError) as err:  # libvirt-python refused the URI (a NUL, say)
            self.state, self.connected_since = HostState.UNREACHABLE, None  # no retrying it
            self.error = (
                f"its URI is not valid ({err}); correct it (plugboard host-set {self.name} "
                "--uri URI) or remove the host"
            )
            raise HostUnreachable(f"host '{self.name}' is unreachable: {self.error}") from err
        conn.registerCloseCallback(self._on_close, None)
        feed.register(conn, self.name, self._event)
        self._conn, self.info = conn, info
        self.state, self.error = HostState.CONNECTED, None
        self.connected_since = datetime.now(UTC)
        log.info("host %s: connected to %s", self.name, self.uri)
        self._event(HostEvent(self.name, "host", self.name, "connected"))
        return conn

    # --- the event feed ----------------------------------------------------------------
    def subscribe(self, subscriber: feed.Subscriber) -> None:
        self._subscribers.subscribe(subscriber)

    def publish(self, event: HostEvent) -> None:
        """Tell the subscribers of a change plugboard made itself that libvirt has no event
        for (a vNIC's link or source changed in place: the web UI's open pages follow)."""
        self._event(event)

    def tick(self) -> None:
        """Tell the subscribers it is time for a full read (when the host is connected)."""
        if self.state is HostState.CONNECTED:
            self._event(HostEvent(self.name, "host", self.name, "tick"))

    def _event(self, event: HostEvent) -> None:
        # Handed to this host's threads: libvirt's event loop thread must not wait for I/O.
        # Each subscriber hears the host's events one at a time, in the order libvirt raised
        # them (a network's "stopped" before its "undefined"); subscribers run side by side.
        for subscriber in self._subscribers.all():
            with self._mail_lock:
                waiting = self._mailboxes.setdefault(subscriber, collections.deque())
                waiting.append(event)
                if len(waiting) > 1:
                    continue  # a thread is delivering this subscriber's events: it takes this
            self._submit(self._deliver, subscriber)

    def _deliver(self, subscriber: feed.Subscriber) -> None:
        """Deliver the subscriber's waiting events in order, until none is left."""
        while True:
            with self._mail_lock:
                event = self._mailboxes[subscriber][0]
            self._publish(subscriber, event)
            with self._mail_lock:
                waiting = self._mailboxes[subscriber]
                waiting.popleft()
                if not waiting:
                    return

    def _publish(self, subscriber: feed.Subscriber, event: HostEvent) -> None:
        try:
            self._run(lambda lv: subscriber(event, lv))
        except HostUnreachable as err:  # gone (or removed) meanwhile: the next connect reads all
            log.info("host %s: %s not delivered: %s", self.name, event.what, err.detail)
        except Exception:  # a failing subscriber must not end the host's threads
            log.exception("host %s: a subscriber failed on %s", self.name, event)

    # --- losing and regaining the connection ---------------------------------------------
    def _on_close(self, conn: libvirt.virConnect, reason: int, _opaque) -> None:
        # This runs on libvirt's event loop thread: closing the connection or waiting for our
        # lock here would stall every host's events and keepalives. Hand it to a thread.
        threading.Thread(
            target=self._lost,
            name=f"lost-{self.name}",
            daemon=True,
            args=(conn, f"connection closed by libvirt (reason {reason})"),
        ).start()

    def _lost(self, conn: libvirt.virConnect, message: str) -> None:
        with self._lock:
            if self._conn is not conn:
                return
            self._conn = None
            self._mark_unreachable(message)
        log.warning("host %s: lost the connection: %s", self.name, message)
        _close_quietly(conn)

    def _mark_unreachable(self, message: str) -> None:
        """Called with the lock held: remember the error, start retrying in the background."""
        self.state, self.error = HostState.UNREACHABLE, message
        self.connected_since = None
        if self._retry_thread is None or not self._retry_thread.is_alive():
            self._retry_thread = threading.Thread(
                target=self._reconnect, name=f"reconnect-{self.name}", daemon=True
            )
            self._retry_thread.start()

    def _reconnect(self) -> None:
        delay = 0.5
        while True:
            time.sleep(delay)
            with self._lock:
                if self._closed or self._conn is not None:
                    return
                try:
                    self._open_locked()
                    return
                except HostUnreachable:
                    delay = min(delay * 2, self._max_delay)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            _close_quietly(conn)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _keepalive(conn: libvirt.virConnect) -> None:
    """Probe the daemon every 5 s and drop the connection after 3 missed answers (local
    drivers such as test:/// have no keepalive and need none)."""
    try:
        conn.setKeepAlive(5, 3)
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise


def _close_quietly(conn: libvirt.virConnect) -> None:
    """Close a connection that is going away anyway: libvirt's complaints are only logged."""
    for step in (conn.unregisterCloseCallback, conn.close):
        try:
            step()
        except libvirt.libvirtError as err:
            log.debug("closing a connection: %s", error_message(err))
