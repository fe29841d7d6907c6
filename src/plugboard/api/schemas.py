"""Request and response bodies of hosts, users, tokens, the audit log, networks and host interfaces.
One name per entity, with the suffixes `Create`, `Update` and `Out` (`HostCreate`,
`HostUpdate`, `HostOut`); each `Out` is built from the engine's value by its `from_*`.
VMs, vNICs, templates and the MAC pool are in plugboard.api.vm_schemas."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
)

from plugboard.api.text import LINE_REGEX, Body, text_in_schema, with_rules
from plugboard.engine import audit, networks
from plugboard.engine.grants import GrantView
from plugboard.engine.hosts import URI_REGEX, HostView, check_uri
from plugboard.engine.passwords import MAX_LENGTH, MIN_LENGTH
from plugboard.engine.passwords import RULE as PASSWORD_RULE
from plugboard.engine.policy import GrantRole
from plugboard.engine.roles import Role
from plugboard.engine.users import UserView
from plugboard.errors import InvalidInput
from plugboard.hostnet.model import TYPES, Listing, ListingSource
from plugboard.hosts.model import DomainType, HypervisorDomainType
from plugboard.names import NAME_REGEX, NAME_RULE
from plugboard.netxml import network_json_schema, network_to_json
from plugboard.netxml.update import UpdateCommand, UpdateSection
from plugboard.store.models import Token

Name = Annotated[str, StringConstraints(pattern=NAME_REGEX), Field(description=NAME_RULE)]


class Problem(BaseModel):
    """An error, as RFC 9457 application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code, e.g. HOST_NOT_FOUND.")
    errors: list[dict] | None = Field(None, description="Each invalid field, for 422.")
    model_config = ConfigDict(extra="allow")  # problem-specific members, e.g. `vms`


class HealthOut(BaseModel):
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


class HostCreate(Body):
    name: Name
    uri: Uri
    domain_type: DomainType = Field(
        "auto", description="kvm, qemu (TCG), or auto: kvm where the host offers it."
    )


class HostUpdate(Body):
    uri: Uri | None = None
    domain_type: DomainType | None = None


class HostOut(BaseModel):
    name: str
    uri: str
    state: Literal["disconnected", "connecting", "connected", "unreachable"]
    error: str | None = Field(description="The libvirt error when unreachable.")
    connected_since: datetime | None = Field(description="When the current connection opened.")
    domain_type_setting: DomainType
    domain_type: HypervisorDomainType | None = Field(
        description="The domain type VMs get on this host; null until first connected."
    )
    hostname: str | None
    libvirt_version: str | None
    hypervisor: str | None
    hypervisor_version: str | None

    @classmethod
    def from_view(cls, view: HostView) -> HostOut:
        return cls(**asdict(view))


class TokenCreate(Body):
    name: Name
    role: Role = Field("user", description="Never more than its user's role.")
    user: Name | None = Field(None, description="Whose token it is; by default the caller's.")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    role: Role
    user: str = Field(description="Whose token it is.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_token(cls, token: Token, user: str) -> TokenOut:
        return cls(
            name=token.name,
            role=token.role,
            user=user,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret. Shown this once; only its hash is kept.")


def _password(value: object) -> object:
    if isinstance(value, str) and not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise ValueError(f"a password has {PASSWORD_RULE}")  # never the password itself
    return value


Password = Annotated[
    SecretStr,
    BeforeValidator(_password),
    Field(
        description=f"{PASSWORD_RULE}; kept only as an argon2id hash, never shown.",
        json_schema_extra={"minLength": MIN_LENGTH, "maxLength": MAX_LENGTH},
    ),
]


class UserCreate(Body):
    username: Name
    password: Password | None = Field(
        None, description="Without one, the user signs in with their tokens only."
    )
    role: Role = "user"


class UserUpdate(Body):
    password: Password | None = None
    role: Role | None = Field(
        None, description="Demoting a user narrows their tokens to `user` at once."
    )
    enabled: StrictBool | None = Field(  # JSON's true or false, not 0 or "yes"
        None, description="A disabled user's tokens and sessions are refused (401)."
    )


class UserOut(BaseModel):
    username: str
    role: Role
    enabled: bool
    has_password: bool = Field(description="Whether they can sign in with a password.")
    tokens: int = Field(description="Their tokens that are not revoked.")
    created_at: datetime

    @classmethod
    def from_view(cls, view: UserView) -> UserOut:
        return cls(**asdict(view))


GrantObject = Annotated[
    str,
    StringConstraints(
        max_length=256, pattern=r"^hosts/[A-Za-z0-9_.-]+(/(vms|networks)/[A-Za-z0-9_.-]+)?$"
    ),
    Field(
        description="What the grant is on: hosts/HOST (host-admin), hosts/HOST/vms/VM "
        "(vm-operator, vm-viewer) or hosts/HOST/networks/NETWORK (network-user)",
        examples=["hosts/local/networks/lab"],
    ),
]


def _grant_of(roles: list[str], kind: str) -> dict[str, Any]:
    """JSON Schema: one of `roles`, on an object of `kind` (its name's pattern)."""
    below = {"host": "", "vm": "/vms/[A-Za-z0-9_.-]+", "network": "/networks/[A-Za-z0-9_.-]+"}
    return {
        "properties": {
            "role": {"enum": roles},
            "object": {"pattern": f"^hosts/[A-Za-z0-9_.-]+{below[kind]}$"},
        }
    }


class GrantCreate(Body):
    """A role on an object of its kind: host-admin on a host, vm-operator and vm-viewer on a
    VM, network-user on a network."""

    model_config = ConfigDict(
        json_schema_extra=with_rules(
            {
                "anyOf": [
                    _grant_of(["host-admin"], "host"),
                    _grant_of(["vm-operator", "vm-viewer"], "vm"),
                    _grant_of(["network-user"], "network"),
                ]
            }
        )
    )
    user: Name
    role: GrantRole
    object: GrantObject


class GrantOut(BaseModel):
    id: int
    user: str
    role: GrantRole
    object: str
    created_at: datetime

    @classmethod
    def from_view(cls, view: GrantView) -> GrantOut:
        return cls(**asdict(view))


class EventQuery(Body):  # a misspelt filter is an error, not ignored
    target: str | None = Field(
        None,
        max_length=512,
        pattern=r"^[A-Za-z0-9_.:/-]*$",
        description="e.g. hosts/local (and all below it).",
    )
    target_contains: str | None = Field(
        None,
        max_length=512,
        pattern=r"^[A-Za-z0-9_.:/-]*$",
        description="Part of the target, anywhere in it, any case (e.g. templates/web).",
    )
    actor: str | None = Field(
        None,
        max_length=128,
        pattern=LINE_REGEX,
        description="Exactly this actor: a user's name, libvirt or plugboard.",
    )
    action: str | None = Field(
        None,
        max_length=128,
        pattern=LINE_REGEX,
        description="Part of the action, anywhere in it, any case (e.g. DELETE, (web)).",
    )
    outcome: audit.Outcome | None = Field(
        None,
        description="ok: changes that succeeded; failed: those refused or failed (status 400 "
        "or more). libvirt's events and plugboard's own notes are neither.",
    )
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=2**31)

    def only(self) -> audit.EventFilter:
        return audit.EventFilter(
            **self.model_dump(include={"target", "target_contains", "actor", "action", "outcome"})
        )


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str = Field(description="Who: a user, libvirt or plugboard")
    via: str | None = Field(
        default=None, description='How the user showed who they are: "token NAME" or "password"'
    )
    action: str
    target: str
    status: int
    result: str = Field(
        description="ok (dry-run: nothing changed) or the problem's code; of plugboard's and "
        "libvirt's own events, what became of them"
    )
    detail: str | None = Field(description="What happened, in words")
    # Rounded here too: events written before the log rounded its durations.
    duration_ms: Annotated[float, AfterValidator(audit.milliseconds)]
    data: dict[str, Any] | None = Field(
        description="What happened, as data: of a vNIC change, `vnic`, `operation` (add, "
        "change, remove), `dry_run`, `outcome` (applied, dry run, nothing to do, refused, "
        "rolled back, timed out, needs attention, interrupted, failed), `asked` (the request's "
        "body), `plan` (actions: kind, reason, keeps_pci_address), the vNIC `before`, "
        "`desired` and `after`, `notes`, `unchecked_hosts`, and on failure `error` (code, "
        "detail, rollback_errors)"
    )


class EventPageOut(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int

    @classmethod
    def from_page(cls, page: audit.EventPage) -> EventPageOut:
        return cls(
            items=[EventOut.model_validate(e) for e in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )


# --- networks ----------------------------------------------------------------------------------
class PoolInterface(BaseModel):
    dev: str
    connections: int


class NetworkSummaryOut(BaseModel):
    name: str
    uuid: str | None
    active: bool
    persistent: bool
    autostart: bool
    bridge: str | None
    forward_mode: str = Field(
        description="nat, route, open, bridge, private, vepa, passthrough, hostdev, or isolated"
    )
    connections: int = Field(description="vNICs of running VMs plugged into it now")
    subnets: list[str] = Field(description="Each <ip> as address/prefix")
    pool: list[PoolInterface] = Field(
        description="A macvtap network's interfaces and the vNICs on each"
    )

    @classmethod
    def from_state(cls, state: networks.NetworkState) -> NetworkSummaryOut:
        return cls(**_summary(state))


def _summary(state: networks.NetworkState) -> dict[str, Any]:
    net = state.definition
    fwd = net.forward
    return {
        "name": net.name,
        "uuid": net.uuid,
        "active": state.active,
        "persistent": state.persistent,
        "autostart": state.autostart,
        "bridge": net.bridge.name if net.bridge else None,
        "forward_mode": net.forward_mode or "isolated",
        "connections": state.connections,
        "subnets": state.subnets,
        "pool": [
            {"dev": i.dev, "connections": state.pool.get(i.dev or "", 0)}
            for i in (fwd.interfaces if fwd else [])
        ],
    }


class NetworkOut(NetworkSummaryOut):
    definition: dict = Field(
        description="The definition in plugboard's JSON form (the same "
        "fields as the XML; schema in plugboard.netxml)"
    )
    etag: str = Field(description="Send as If-Match with PUT or PATCH to change only what you read")

    @classmethod
    def from_state(cls, state: networks.NetworkState) -> NetworkOut:
        return cls(**_summary(state), definition=network_to_json(state.definition), etag=state.etag)


class NetworkChangeOut(NetworkOut):
    applied: Literal["now", "next-start"] = Field(
        description="next-start: the network runs the old definition until it restarts"
    )
    notes: list[str] = []
    vnics: list[dict[str, Any]] | None = Field(
        None,
        description="apply_to_running: each running vNIC of a changed port group, "
        "{host, vm, vnic, outcome: ok|failed, plan, pci_address, error}",
    )

    @classmethod
    def from_change(cls, change: networks.NetworkChange) -> NetworkChangeOut:
        state = change.state
        return cls(
            **NetworkOut.from_state(state).model_dump(),
            applied=change.applied,
            notes=change.notes,
            vnics=[o.__dict__ for o in change.vnics] if change.vnics is not None else None,
        )


class NetworkUpdate(Body):
    autostart: bool


class NetworkSectionUpdate(Body):
    """One virNetworkUpdate: `xml` is the section's element, e.g. <host mac=... ip=.../>."""

    command: UpdateCommand
    section: UpdateSection
    xml: Annotated[str, StringConstraints(min_length=1, max_length=65536)]
    parent_index: int = Field(
        -1, ge=-1, le=1024, description="Which <ip> (for DHCP sections); -1: the usual one"
    )


class DhcpLeaseOut(BaseModel):
    mac: str
    ip: str
    prefix: int
    hostname: str | None
    expiry: datetime | None
    client_id: str | None
    vm: str | None = Field(description="The VM whose vNIC has this MAC, when known")
    vnic: str | None = Field(description="That vNIC's name, as the vNIC API names it")
    vnic_now_on: str | None = Field(
        description="Where that vNIC is wired now (`network NAME`, `bridge NAME`, ...) when it "
        "has left this network since; dnsmasq keeps the lease until it expires"
    )

    @classmethod
    def from_lease(cls, lease: networks.DhcpLease) -> DhcpLeaseOut:
        return cls(**asdict(lease))


# --- host interfaces -------------------------------------------------------------------------
class InterfaceUser(BaseModel):
    kind: Literal["vm", "network"]
    name: str


class HostInterfaceOut(BaseModel):
    name: str
    type: str = Field(description=f"{', '.join(TYPES[:-1])} or {TYPES[-1]}")
    state: str = Field(description="up, down, unknown, ... (the kernel's operstate)")
    mac: str | None
    mtu: int | None
    addresses: list[str] = Field(description="CIDR")
    master: str | None = Field(description="The bridge, bond or OVS bridge it is a port of")
    ports: list[str] = Field(description="A bridge's ports, a bond's slaves")
    parent: str | None = Field(description="The lower device of a VLAN or macvtap")
    vlan_id: int | None
    mode: str | None = Field(description="macvtap/macvlan or bond mode")
    ovs: dict | None = Field(description="Open vSwitch facts: bridge, tag, trunks, error, ...")
    used_by: list[InterfaceUser]


class HostInterfacesOut(BaseModel):
    host: str
    source: ListingSource = Field(
        description="Where the facts come from: netlink and OVSDB in the namespace of the "
        "host's libvirtd (it runs on this machine), or libvirt's interface APIs (remote)"
    )
    cannot_see: list[str] = Field(description="What that source leaves out")
    interfaces: list[HostInterfaceOut]

    @classmethod
    def from_listing(cls, host: str, listing: Listing) -> HostInterfacesOut:
        return cls(
            host=host,
            source=listing.source,
            cannot_see=listing.cannot_see,
            interfaces=[HostInterfaceOut(**asdict(i)) for i in listing.interfaces],
        )


# --- the network's JSON form -----------------------------------------------------------------
NETXML = "Netxml"  # the prefix of its components in the OpenAPI document
NETWORK_RULES = (
    "A libvirt network in plugboard's JSON form: libvirt's XML, element for element (GET a "
    "network to see one). libvirt's rules across fields are checked when it is defined (a "
    "forward mode with what it needs, DHCP ranges inside their subnet, ...): a 422 names the "
    "element and the rule."
)


def network_definition_schemas() -> dict[str, Any]:
    """netxml's JSON schema as OpenAPI components (`Netxml<Element>`): a name required, as
    plugboard names networks, and every string without a form of its own plain text."""
    raw = json.dumps(network_json_schema()["$defs"])
    defs = json.loads(raw.replace('"#/$defs/', f'"#/components/schemas/{NETXML}'))
    for schema in defs.values():
        text_in_schema(schema, object)
    network = defs["Network"]
    network["required"] = ["name"]
    network["properties"]["name"] = {
        "type": "string",
        "pattern": NAME_REGEX,
        "description": NAME_RULE,
    }
    network["description"] = NETWORK_RULES
    return {NETXML + name: schema for name, schema in defs.items()}
