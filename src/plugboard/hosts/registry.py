"""The hosts the service manages, each with its kept libvirt connection."""

from __future__ import annotations

import threading
from typing import Any

import libvirt

from plugboard.errors import HostNotFound
from plugboard.hosts import feed
from plugboard.hosts.connection import Connector, HostConnection


class HostRegistry:
    def __init__(
        self,
        connector: Connector | None = None,
        *,
        workers: int = 4,
        call_timeout: float = 30.0,
        reconnect_max_delay: float = 30.0,
        tick_interval: float = 15.0,
    ) -> None:
        self._connector = connector or libvirt.open
        self.subscribers = feed.Subscribers()
        self._options: dict[str, Any] = {
            "subscribers": self.subscribers,
            "workers": workers,
            "call_timeout": call_timeout,
            "reconnect_max_delay": reconnect_max_delay,
        }
        self._hosts: dict[str, HostConnection] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker = threading.Thread(
            target=self._tick, args=(tick_interval,), name="host-ticks", daemon=True
        )
        self._ticker.start()

    def subscribe(self, subscriber: feed.Subscriber) -> None:
        """Hear every host's feed (hosts added later too)."""
        self.subscribers.subscribe(subscriber)

    def _tick(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            for host in self.all():
                host.tick()

    def make(self, name: str, uri: str) -> HostConnection:
        """A connection for a host, not yet registered (nothing opens until it is used)."""
        return HostConnection(name, uri, connector=self._connector, **self._options)

    def add(self, name: str, uri: str) -> HostConnection:
        return self.put(self.make(name, uri))

    def put(self, connection: HostConnection) -> HostConnection:
        """Register `connection`, replacing (and closing) one of the same name."""
        name = connection.name
        with self._lock:
            old = self._hosts.pop(name, None)
            self._hosts[name] = connection
        if old is not None:
            old.close()
        return connection

    def get(self, name: str) -> HostConnection:
        with self._lock:
            connection = self._hosts.get(name)
        if connection is None:
            raise HostNotFound(f"no host named '{name}'; `plugboard host-list` shows the hosts")
        return connection

    def all(self) -> list[HostConnection]:
        with self._lock:
            return list(self._hosts.values())

    def remove(self, name: str) -> None:
        with self._lock:
            connection = self._hosts.pop(name, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            connections, self._hosts = list(self._hosts.values()), {}
        for connection in connections:
            connection.close()
