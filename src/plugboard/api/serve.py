"""uvicorn's settings for the service: its limits, and a deadline for request headers."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from plugboard.api.limits import MAX_HEADER_BYTES
from plugboard.settings import Settings

HEADER_TIMEOUT = 10.0  # seconds for a request's line and headers to arrive


class DeadlinedH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers, from the
    connection's start or from the first byte after the previous answer: uvicorn has none, so
    a client that connects and trickles its headers (slowloris) would hold a connection
    forever. The body's deadline is plugboard.api.limits'."""

    header_timeout = HEADER_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self._header_timer is not None:
            self._header_timer.cancel()  # the request's headers are in
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's side of the boundary (the body's is plugboard.api.limits), each value chosen:
    headers are read by h11 (a pure-Python parser, the same on every machine), bounded in size
    and in time; idle keep-alive connections are closed; connections over the cap get 503."""
    return {
        "host": settings.listen_host,
        "port": settings.listen_port,
        "http": DeadlinedH11,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": settings.keepalive_timeout,
        "limit_concurrency": settings.max_connections,
        "backlog": 128,
        "timeout_graceful_shutdown": 10,
    }
