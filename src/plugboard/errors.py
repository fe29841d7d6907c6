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

    # libvirt's error number and words, when libvirt's refusal or failure is what this error
    # reports (set by plugboard.hosts.errors, the one place libvirt's errors are translated).
    libvirt_code: int | None = None
    libvirt_message: str | None = None
    # The vNIC change this error stopped, when one was under way (its plan, the vNIC before
    # and as asked: a plugboard.engine.vnics.VnicChange, set there; this base module names no
    # layer above it): the audit log says what was tried.
    attempt: Any = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def reworded(self, detail: str) -> PlugboardError:
        """The same error (class, members and libvirt's code) with another detail."""
        again = type(self)(detail, **self.extra)
        again.libvirt_code, again.libvirt_message = self.libvirt_code, self.libvirt_message
        return again


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


class HostInterfaceNotFound(InvalidInput):
    """A vNIC or template names a host interface the host does not have."""

    code = "HOST_INTERFACE_NOT_FOUND"
    title = "Host interface not found."


class FileNotFound(InvalidInput):
    """A file the VM boots from (kernel, initrd, disk image) is not on the host."""

    code = "FILE_NOT_FOUND"
    title = "File not found on the host."


class OvsBridgeNotFound(InvalidInput):
    """A vNIC or template names an Open vSwitch bridge the host does not have (or the host
    runs no Open vSwitch)."""

    code = "OVS_BRIDGE_NOT_FOUND"
    title = "Open vSwitch bridge not found."


class MacAddressInvalid(InvalidInput):
    """Not a MAC a NIC may have: malformed, multicast, or all zeros."""

    code = "MAC_ADDRESS_INVALID"
    title = "Invalid MAC address."


class NetworkNamedNotFound(InvalidInput):
    """The request's body names a network the host does not have (a 404 is for a URL that
    names nothing). Check the name with `plugboard net-list`, or define the network first."""

    code = "NETWORK_NOT_FOUND"
    title = "Network not found."


# --- who is asking ----------------------------------------------------------------------
class Unauthorized(PlugboardError):
    """No token, or a token that is unknown or revoked. Send a valid bearer token."""

    code = "UNAUTHORIZED"
    status = 401
    title = "Authentication required."


class TooManyRequests(PlugboardError):
    """Too many failed sign-ins for this user or from this address in the last minute. Wait
    `retry_after` seconds (the Retry-After header), then try again with the right password."""

    code = "TOO_MANY_REQUESTS"
    status = 429
    title = "Too many failed sign-ins."

    def __init__(self, detail: str, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class Forbidden(PlugboardError):
    """The token is valid but its role may not do this. Ask an administrator."""

    code = "FORBIDDEN"
    status = 403
    title = "Not allowed."


class PermissionDenied(Forbidden):
    """The caller may see this but not do this: `needs` lists the grants (role and object)
    any one of which would allow it. An administrator gives one with `plugboard grant`."""

    code = "PERMISSION_DENIED"
    title = "Permission denied."


class PlanRefused(PlugboardError):
    """A host network change the plan refuses before anything changes: `refusals` lists each
    (field, message): a loop, a port in two masters, an interface in use, ..."""

    code = "PLAN_REFUSED"
    status = 409  # the change conflicts with the host as it is (or with itself)
    title = "The change is refused."


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


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    title = "User not found."


class GrantNotFound(NotFound):
    code = "GRANT_NOT_FOUND"
    title = "Grant not found."


class VmNotFound(NotFound):
    code = "VM_NOT_FOUND"
    title = "VM not found."


class VnicNotFound(NotFound):
    code = "VNIC_NOT_FOUND"
    title = "VM network interface not found."


class TemplateNotFound(NotFound):
    code = "TEMPLATE_NOT_FOUND"
    title = "Template not found."


class ProfileNotFound(NotFound):
    code = "PROFILE_NOT_FOUND"
    title = "vNIC profile not found."


class ChangeNotFound(NotFound):
    code = "CHANGE_NOT_FOUND"
    title = "Host network change not found."


class OperationNotFound(NotFound):
    """No bulk operation of that id that the caller may read: operations live in the
    service's memory and are forgotten when it restarts."""

    code = "OPERATION_NOT_FOUND"
    title = "Operation not found."


class Conflict(PlugboardError):
    """The request clashes with the current state (a name taken, an object in use)."""

    code = "CONFLICT"
    status = 409
    title = "Conflict."


class HostNotLocal(Conflict):
    """A host network change for a remote host whose URI has no SSH (qemu+tls, qemu+tcp): the
    change is applied over SSH (qemu+ssh URIs), and this one gives no way in. Nothing was
    changed; plan it with ?dry_run=true, or register the host by a qemu+ssh URI."""

    code = "HOST_NOT_LOCAL"
    title = "Host network changes need a local host or one reached over SSH (qemu+ssh)."


class ChangePending(Conflict):
    """Another host network change waits for its confirmation on this host: confirm it or
    let it roll back first (two checkpoints taken over each other would undo each other)."""

    code = "CHANGE_PENDING"
    title = "A host network change is waiting."


class NoChangeWaiting(Conflict):
    """A confirmation with no change waiting for one: none was applied, or it has been
    confirmed or rolled back already (`state` says which)."""

    code = "NO_CHANGE_WAITING"
    title = "No host network change is waiting for confirmation."


class ChangeFailed(Conflict):
    """A host network change the host refused or did not take as asked: it was rolled back at
    once, so nothing changed. `desired`, `current` (as read back) and `diff` say where it
    differed; `rollback_errors` anything the rollback could not undo (look at the host)."""

    code = "CHANGE_FAILED"
    title = "The host network change failed and was rolled back."


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


class LastAdminToken(Conflict):
    """Revoking this token would leave no admin token that is not revoked: nobody could make
    one again through the API. Create another admin token first, then revoke this one."""

    code = "LAST_ADMIN_TOKEN"
    title = "The last admin token cannot be revoked."


class GrantExists(Conflict):
    code = "GRANT_EXISTS"
    title = "Grant already exists."


class RoleAboveUser(Conflict):
    """A token may not have more than its user's role: make the user admin first, or ask for
    the user's role. (409: the body is valid; the user's role is what it clashes with.)"""

    code = "ROLE_ABOVE_USER"
    title = "The role is above the user's."


class UserIsAdmin(Conflict):
    """A grant for an admin user, who may do everything: demote them first, or grant nothing."""

    code = "USER_IS_ADMIN"
    title = "The user is an admin."


class UserExists(Conflict):
    code = "USER_EXISTS"
    title = "User already exists."


class LastAdminUser(Conflict):
    """Disabling, removing or demoting this user would leave no enabled admin user: nobody
    could administer plugboard. Make another user admin first."""

    code = "LAST_ADMIN_USER"
    title = "The last admin user must stay an enabled admin."


class ProfileExists(Conflict):
    code = "PROFILE_EXISTS"
    title = "vNIC profile already exists."


class ProfileInUse(Conflict):
    """vNICs are wired through the profile: wire them elsewhere (or to another profile)
    first; `vnics` lists them."""

    code = "PROFILE_IN_USE"
    title = "vNIC profile in use."


class TemplateExists(Conflict):
    code = "TEMPLATE_EXISTS"
    title = "Template already exists."


class VmExists(Conflict):
    code = "VM_EXISTS"
    title = "VM already exists."


class VnicExists(Conflict):
    code = "VNIC_EXISTS"
    title = "VM network interface already exists."


class VmStateConflict(Conflict):
    """The VM is not in a state that allows this (e.g. starting a running VM)."""

    code = "VM_STATE_CONFLICT"
    title = "The VM's state does not allow this."


class CannotRemoveActiveDevice(Conflict):
    """A plugged vNIC of a running VM. Unplug it first, or stop the VM."""

    code = "CANNOT_REMOVE_ACTIVE_DEVICE"
    title = "Cannot remove a plugged network interface of a running VM."


class OperationPending(Conflict):
    """An interrupted change of this vNIC could not be recovered yet (see `operation`).
    plugboard retries when the host reconnects; look at the audit log, then retry."""

    code = "OPERATION_PENDING"
    title = "An interrupted change of this vNIC is pending."


class MacAddressInUse(Conflict):
    code = "MAC_ADDRESS_IN_USE"
    title = "MAC address in use."


class MacPoolExhausted(Conflict):
    """No free MAC is left in the pool's ranges. Add a range, or free a MAC."""

    code = "MAC_POOL_EXHAUSTED"
    title = "MAC pool exhausted."


class UpdateVnicFailed(Conflict):
    """libvirt refused a step of a vNIC change; everything done before it was undone. The
    detail is libvirt's message; `rollback_errors` lists undo steps that failed, if any."""

    code = "UPDATE_VNIC_FAILED"
    title = "Failed to update VM Network Interface."
    error_code = 51  # oVirt's numeric code for the same failure

    def __init__(self, detail: str, **extra: Any) -> None:
        extra.setdefault("error_code", self.error_code)
        super().__init__(detail, **extra)


class NoFreePciSlot(Conflict):
    """A running VM has no free PCI slot (PCIe root port) for another hot-plugged card, and
    cannot get one while it runs. Unplug a card, or give the VM more slots and restart it."""

    code = "NO_FREE_PCI_SLOT"
    title = "No free PCI slot."


class NetworkInactive(Conflict):
    """The network is defined but not started. Start it (`plugboard net-start NAME`)."""

    code = "NETWORK_INACTIVE"
    title = "Network not active."


class MirroringConflict(Conflict):
    """A mirroring setting that contradicts itself: `port_mirroring` (the whole network) and
    `mirror_of` (chosen vNICs) together, or a vNIC asked to mirror itself. Ask for one."""

    code = "MIRRORING_CONFLICT"
    title = "Conflicting mirroring setting."


class MirroredVnicNotFound(Conflict):
    """`mirror_of` names a VM or vNIC the host does not have (or the caller may not see).
    Check the names with `plugboard nic-list VM`; nothing was changed."""

    code = "MIRRORED_VNIC_NOT_FOUND"
    title = "Mirrored vNIC not found."


class MirroringNeedsLocalHost(Conflict):
    """Mirroring sets tc and Open vSwitch rules in the host's own network namespace, which
    plugboard reaches only when the host's libvirtd runs on this machine."""

    code = "MIRRORING_NEEDS_LOCAL_HOST"
    title = "Mirroring needs a local host."


class MirroringFailed(Conflict):
    """The host refused a mirroring rule (tc or Open vSwitch); the detail says which. The
    setting is kept and applied again at the next reconcile."""

    code = "MIRRORING_FAILED"
    title = "Mirroring could not be applied."


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


class HotunplugTimeout(PlugboardError):
    """The guest did not release the card in time (no ACPI hot-plug support, hung, or busy).
    The vNIC stays plugged; `vnic` shows its real state. Retry, or stop the VM."""

    code = "HOTUNPLUG_TIMEOUT"
    status = 504
    title = "The guest did not acknowledge the hot-unplug."
