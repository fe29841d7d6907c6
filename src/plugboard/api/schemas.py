"""Request and response bodies. One name per entity: `HostCreate`, `HostUpdate`, `HostOut`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from plugboard.engine.hosts import URI_REGEX, check_uri
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
