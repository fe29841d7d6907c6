"""The one table from libvirt's errors to plugboard's.

Every libvirt call plugboard makes goes through the adapter (plugboard.hosts.adapter), which
turns a `libvirtError` into a plugboard error here: a lost connection is always
HOST_UNREACHABLE (502), whatever the call was; a refusal becomes the error its code means
(a missing VM or network, a conflict with the object's state, input libvirt does not take);
anything else is HOST_ERROR (502). The engine never sees a `libvirtError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import libvirt

from plugboard.errors import (
    Conflict,
    HostError,
    HostUnreachable,
    InvalidInput,
    NetworkExists,
    NetworkNotFound,
    PlugboardError,
    VmExists,
    VmNotFound,
)

# Errors that mean "the connection is gone", not "this call was wrong". A system error is
# either (a socket that broke, or a file the host lacks: "unable to stat ..."): the
# connection's own liveness tells them apart.
CONNECTION_ERRORS = {
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
}
REFUSALS: dict[int, type[PlugboardError]] = {
    libvirt.VIR_ERR_NO_DOMAIN: VmNotFound,
    libvirt.VIR_ERR_NO_NETWORK: NetworkNotFound,
    libvirt.VIR_ERR_DOM_EXIST: VmExists,
    libvirt.VIR_ERR_NETWORK_EXIST: NetworkExists,
    libvirt.VIR_ERR_OPERATION_INVALID: Conflict,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED: InvalidInput,
    libvirt.VIR_ERR_XML_ERROR: InvalidInput,
    libvirt.VIR_ERR_XML_DETAIL: InvalidInput,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED: InvalidInput,
    libvirt.VIR_ERR_INVALID_ARG: InvalidInput,
}


def error_message(err: libvirt.libvirtError) -> str:
    """libvirt's own words for an error."""
    return err.get_error_message() or str(err)


def alive(conn: libvirt.virConnect) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False


def translate(err: libvirt.libvirtError, conn: libvirt.virConnect, host: str) -> PlugboardError:
    """The plugboard error a libvirt error means (its detail: libvirt's message; the host's
    name for the host's own errors); its `libvirt_code` is libvirt's number."""
    code = err.get_error_code()
    message = error_message(err)
    found: PlugboardError
    if code in CONNECTION_ERRORS or not alive(conn):
        found = HostUnreachable(f"host '{host}': {message}")
    elif code in REFUSALS:
        found = REFUSALS[code](message)
    else:
        found = HostError(f"host '{host}': {message}", libvirt_code=code)
    found.libvirt_code, found.libvirt_message = code, message
    return found


def is_refusal(err: PlugboardError) -> bool:
    """Whether libvirt refused or failed a call while the host is fine: an error of the
    table other than a lost connection."""
    return err.libvirt_code is not None and not isinstance(err, HostUnreachable)


@contextlib.contextmanager
def refused_as(make: Callable[[str], PlugboardError]) -> Iterator[None]:
    """Inside, libvirt's refusal becomes `make(libvirt's words)`: the error a use case
    reports for it (UPDATE_VNIC_FAILED, VM_STATE_CONFLICT, ...). A lost connection stays
    HOST_UNREACHABLE."""
    try:
        yield
    except PlugboardError as err:
        if not is_refusal(err):
            raise
        made = make(err.libvirt_message or err.detail)
        made.libvirt_code, made.libvirt_message = err.libvirt_code, err.libvirt_message
        raise made from err


@contextlib.contextmanager
def refusal_explained(what: str) -> Iterator[None]:
    """Inside, libvirt's refusal stays the error the table says, its detail `what: words`."""
    try:
        yield
    except PlugboardError as err:
        if not is_refusal(err):
            raise
        raise err.reworded(f"{what}: {err.libvirt_message or err.detail}") from err
