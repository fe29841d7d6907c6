"""The service's boundary: a request's headers are bounded in size, its body in size and in
time, and the body is read only for a caller whose token is valid (an unknown caller cannot
make the service hold a body).

Plain ASGI, around the application: a declared size over the limit is refused before a byte of
the body is read; a body without a declared size (chunked) is counted as it arrives and cut off
at the limit. uvicorn's own limits (headers, idle connections, connections at once) are set in
plugboard.api.serve."""

from __future__ import annotations

import asyncio
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugboard.api.deps import API_PREFIX, Services, caller
from plugboard.api.problems import problem_response
from plugboard.errors import PlugboardError

MAX_HEADER_BYTES = 16 * 1024  # the request line and headers; a bearer token is under 100
HEADERS_TOO_LARGE = f"the request line and headers are over {MAX_HEADER_BYTES // 1024} KiB"


class BoundedBodies:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _header_bytes(scope) > MAX_HEADER_BYTES:
            await _refuse(scope, send, 431, "HEADERS_TOO_LARGE", HEADERS_TOO_LARGE)
            return
        headers = Headers(scope=scope)
        limit = self.services.settings.max_body_bytes
        try:
            declared = _declared_length(headers)
        except ValueError:
            await _refuse(scope, send, 400, "BAD_REQUEST", "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            await _refuse(scope, send, 413, "PAYLOAD_TOO_LARGE", _too_large(limit))
            return
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if (declared or chunked) and scope["path"].startswith(API_PREFIX + "/"):
            try:  # who asks, before their body is read
                await caller(self.services, bearer_secret(headers))
            except PlugboardError as err:
                await _refuse(scope, send, err.status, err.code, err.detail, err.title)
                return
        await _Body(self.app, scope, receive, send, limit, self.services.settings.body_timeout)()


class _Body:
    """One request's body, read for the application within `limit` bytes and `timeout`
    seconds; past either, the application's answer is dropped and 413 or 408 sent instead."""

    def __init__(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, timeout: float
    ) -> None:
        self.app, self.scope, self.receive, self.send = app, scope, receive, send
        self.limit, self.deadline = limit, time.monotonic() + timeout
        self.read, self.complete = 0, False
        self.refusal: tuple[int, str, str] | None = None
        self.started = False

    async def __call__(self) -> None:
        await self.app(self.scope, self.bounded_receive, self.watched_send)
        if self.refusal is not None and not self.started:
            await _refuse(self.scope, self.send, *self.refusal)

    async def bounded_receive(self) -> Message:
        if self.refusal is not None:  # refused: nothing more of the body is read
            return {"type": "http.disconnect"}
        if self.complete:
            return await self.receive()
        try:
            message = await asyncio.wait_for(self.receive(), self.deadline - time.monotonic())
        except TimeoutError:
            detail = "the request's body did not arrive in time; send it whole, at once"
            self.refusal = (408, "REQUEST_TIMEOUT", detail)
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                self.refusal = (413, "PAYLOAD_TOO_LARGE", _too_large(self.limit))
                return {"type": "http.disconnect"}
            self.complete = not message.get("more_body", False)
        return message

    async def watched_send(self, message: Message) -> None:
        if self.refusal is not None:
            return  # the application's answer to a body it did not get
        self.started = True
        await self.send(message)


def _header_bytes(scope: Scope) -> int:
    """The request line and headers' size, about as they came (h11 bounds them while they
    arrive, `h11_max_incomplete_event_size`; this bounds those that came at once)."""
    line = (
        len(scope["method"]) + len(scope.get("raw_path") or b"") + len(scope["query_string"]) + 12
    )
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    length = int(value)
    if length < 0:
        raise ValueError(value)
    return length


def bearer_secret(headers: Headers) -> str | None:
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


def _too_large(limit: int) -> str:
    return (
        f"the request's body is over the limit of {limit} bytes "
        f"({limit // 1024} KiB; the setting PLUGBOARD_MAX_BODY_BYTES raises it)"
    )


TITLES = {
    400: "Bad request.",
    408: "The request's body took too long.",
    413: "The request's body is too large.",
    431: "The request's headers are too large.",
}


async def _refuse(
    scope: Scope, send: Send, status: int, code: str, detail: str, title: str | None = None
) -> None:
    """Answer with a problem, and close: the unread body is not waited for."""
    state = scope.setdefault("state", {})
    state["problem_code"], state["problem_detail"] = code, detail
    response = problem_response(status, code, title or TITLES[status], detail)
    response.headers["Connection"] = "close"

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)
