"""Request and response bodies. One name per entity: `HostCreate`, `HostUpdate`, `HostOut`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from plugboard.engine.hosts import URI_REGEX, check_uri
from plugboard.engine.networks import COMMANDS, SECTIONS
from plugboard.errors import InvalidInput

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    Field(description="1-64 of letters, digits, '_', '.', '-'; starts with a letter or digit."),
]
DomainType = Literal["auto", "kvm", "qemu"]
Role = Literal["admin", "user"]


class Problem(BaseModel):
    """An error, as RFC 9457 application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code, e.g. HOST_NOT_FOUND.")
    errors: list[dict] | None = Field(None, description="Each invalid field, for 422.")
    model_config = ConfigDict(extra="allow")  # problem-specific members, e.g. `vms`


class Health(BaseModel):
    status: Literal["ok"]
    version: str


def _uri(value: str) -> str:
    try:
        return check_uri(value)
    except InvalidInput as err:
        raise ValueError(err.detail) from None


Uri = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1024),
    AfterValidator(_uri),
    Field(
        description="libvirt URI: qemu:///system, qemu+ssh://user@host/system, "
        "qemu+tls://host/system, qemu:///system?socket=/path, test:///default.",
        json_schema_extra={"pattern": URI_REGEX},
    ),
]


class HostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    uri: Uri
    domain_type: DomainType = Field(
        "auto", description="kvm, qemu (TCG), or auto: kvm where the host offers it."
    )


class HostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: Uri | None = None
    domain_type: DomainType | None = None


class HostOut(BaseModel):
    name: str
    uri: str
    state: Literal["disconnected", "connecting", "connected", "unreachable"]
    error: str | None = Field(description="The libvirt error when unreachable.")
    connected_since: datetime | None = Field(description="When the current connection opened.")
    domain_type_setting: DomainType
    domain_type: Literal["kvm", "qemu"] | None = Field(
        description="The domain type VMs get on this host; null until first connected."
    )
    hostname: str | None
    libvirt_version: str | None
    hypervisor: str | None
    hypervisor_version: str | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    role: Role = "user"


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown this once; only its hash is kept.")


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt filter is an error, not ignored
    target: str | None = Field(
        None, max_length=512, description="e.g. hosts/local (and all below it)."
    )
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=2**31)


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    status: int
    result: str
    detail: str | None
    duration_ms: float


class EventPage(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int


# --- networks ----------------------------------------------------------------------------------
class PoolInterface(BaseModel):
    dev: str
    connections: int


class NetworkSummary(BaseModel):
    name: str
    uuid: str | None
    active: bool
    persistent: bool
    autostart: bool
    bridge: str | None
    forward_mode: str = Field(
        description="nat, route, open, bridge, private, vepa, passthrough, hostdev, or isolated"
    )
    connections: int = Field(description="vNICs attached now")
    subnets: list[str] = Field(description="Each <ip> as address/prefix")
    pool: list[PoolInterface] = Field(
        description="A macvtap network's interfaces and the vNICs on each"
    )


class NetworkOut(NetworkSummary):
    definition: dict = Field(
        description="The definition in plugboard's JSON form (the same "
        "fields as the XML; schema in plugboard.netxml)"
    )


class NetworkChange(NetworkOut):
    applied: Literal["now", "next-start"] = Field(
        description="next-start: the network runs the old definition until it restarts"
    )
    notes: list[str] = []


class NetworkPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    autostart: bool


class NetworkUpdate(BaseModel):
    """One virNetworkUpdate: `xml` is the section's element, e.g. <host mac=... ip=.../>."""

    model_config = ConfigDict(extra="forbid")
    # The names libvirt's update codes are kept under, in one place (plugboard.engine.networks).
    command: Literal[tuple(COMMANDS)]  # type: ignore[valid-type]
    section: Literal[tuple(SECTIONS)]  # type: ignore[valid-type]
    xml: Annotated[str, StringConstraints(min_length=1, max_length=65536)]
    parent_index: int = Field(
        -1, ge=-1, le=1024, description="Which <ip> (for DHCP sections); -1: the usual one"
    )


class LeaseOut(BaseModel):
    mac: str
    ip: str
    prefix: int
    hostname: str | None
    expiry: datetime | None
    client_id: str | None
    vm: str | None = Field(description="The VM whose vNIC has this MAC, when known")
    vnic: str | None
