"""The one exception hierarchy of plugboard.

Every error a user can meet is a `PlugboardError` with a stable `code` (what scripts match on),
an HTTP `status` and a `title`; `detail` says what happened this time and what to do. The API
maps them to application/problem+json in one place (plugboard.api.problems). Each class says
whose fault it is.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PlugboardError(Exception):
    """Base of all errors plugboard reports to its users."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error."

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


# --- the user's input --------------------------------------------------------------------
class BadRequest(PlugboardError):
    """The request itself is malformed. Fix the request."""

    code = "BAD_REQUEST"
    status = 400
    title = "Bad request."


class InvalidInput(PlugboardError):
    """The request is well-formed but its content is not acceptable. Fix the values named."""

    code = "VALIDATION_ERROR"
    status = 422
    title = "Invalid input."


# --- who is asking ----------------------------------------------------------------------
class Unauthorized(PlugboardError):
    """No token, or a token that is unknown or revoked. Send a valid bearer token."""

    code = "UNAUTHORIZED"
    status = 401
    title = "Authentication required."


class Forbidden(PlugboardError):
    """The token is valid but its role may not do this. Ask an administrator."""

    code = "FORBIDDEN"
    status = 403
    title = "Not allowed."


# --- what is there ----------------------------------------------------------------------
class NotFound(PlugboardError):
    """The named object does not exist. Check the name, or list what exists."""

    code = "NOT_FOUND"
    status = 404
    title = "Not found."


class HostNotFound(NotFound):
    code = "HOST_NOT_FOUND"
    title = "Host not found."


class NetworkNotFound(NotFound):
    code = "NETWORK_NOT_FOUND"
    title = "Network not found."


class TokenNotFound(NotFound):
    code = "TOKEN_NOT_FOUND"
    title = "Token not found."


class Conflict(PlugboardError):
    """The request clashes with the current state (a name taken, an object in use)."""

    code = "CONFLICT"
    status = 409
    title = "Conflict."


class HostExists(Conflict):
    code = "HOST_EXISTS"
    title = "Host already exists."


class NetworkExists(Conflict):
    code = "NETWORK_EXISTS"
    title = "Network already exists."


class NetworkInUse(Conflict):
    code = "NETWORK_IN_USE"
    title = "Network in use."


class TokenExists(Conflict):
    code = "TOKEN_EXISTS"
    title = "Token already exists."


class PreconditionFailed(PlugboardError):
    """The object changed since the client read it (stale If-Match). Read it again, retry."""

    code = "PRECONDITION_FAILED"
    status = 412
    title = "Precondition failed."


# --- the host ---------------------------------------------------------------------------
class HostError(PlugboardError):
    """libvirt on the host failed or cannot be reached. Check the host; plugboard retries."""

    code = "HOST_ERROR"
    status = 502
    title = "Host error."


class HostUnreachable(HostError):
    code = "HOST_UNREACHABLE"
    title = "Host unreachable."


class HostTimeout(HostError):
    code = "HOST_TIMEOUT"
    title = "Host did not answer in time."
