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


# --- VMs and vNICs -----------------------------------------------------------------------------
NicName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"),
    Field(description="1-32 of letters, digits, '_', '-' (kept as the libvirt alias ua-<name>)."),
]
IfName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,15}$"),
    Field(description="A host interface name (at most 15 characters)."),
]
Mac = Annotated[str, Field(description="aa:bb:cc:dd:ee:ff; unicast, not all zeros.")]
NicModel = Literal[
    "virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "i82551", "i82557b", "i82559er"
]


class NetworkSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["network"]
    network: Name
    portgroup: Name | None = None


class BridgeSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["bridge"]
    bridge: IfName


VlanTag = Annotated[int, Field(ge=0, le=4095)]


class OvsSource(BaseModel):
    """A port of an Open vSwitch bridge: untagged, an access port (vlan) or a trunk."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["ovs"]
    bridge: IfName
    vlan: VlanTag | None = Field(None, description="An access port's VLAN tag")
    trunk: list[VlanTag] | None = Field(
        None, min_length=1, max_length=64, description="A trunk port's VLANs (tagged)"
    )


class DirectSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["direct"]
    dev: IfName
    mode: Literal["bridge", "vepa", "private", "passthrough"] = "vepa"


VnicSource = Annotated[
    NetworkSource | BridgeSource | OvsSource | DirectSource,
    Field(discriminator="type", description="Where the cable goes; null: no network."),
]
Rate = Annotated[int, Field(ge=1, le=2**32 - 1)]


class InboundLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    average: Rate = Field(description="kilobytes/s")
    peak: Rate | None = None
    burst: Rate | None = Field(None, description="kilobytes")
    floor: Rate | None = Field(None, description="guaranteed kilobytes/s (networks with QoS)")


class OutboundLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    average: Rate = Field(description="kilobytes/s")
    peak: Rate | None = None
    burst: Rate | None = Field(None, description="kilobytes")


class Bandwidth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inbound: InboundLimits | None = None
    outbound: OutboundLimits | None = None


class VlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[VlanTag] = Field(min_length=1, max_length=64)
    trunk: bool = False


class VnicFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mac: Mac | None = Field(None, description="Left out: the next free MAC of the pool.")
    model: NicModel = "virtio"
    source: VnicSource | None = None
    plugged: bool = True
    linked: bool = True
    bandwidth: Bandwidth | None = None
    vlan: VlanIn | None = None


class VnicCreate(VnicFields):
    name: NicName | None = Field(None, description="Left out: nic1, nic2, ...")


class VnicPatch(BaseModel):
    """Only the fields sent change; `source: null` means no network."""

    model_config = ConfigDict(extra="forbid")
    mac: Mac | None = None
    model: NicModel | None = None
    source: VnicSource | None = None
    plugged: bool | None = None
    linked: bool | None = None
    bandwidth: Bandwidth | None = None
    vlan: VlanIn | None = None


class VnicOut(BaseModel):
    name: str
    mac: str
    model: str
    source: dict | None = Field(description="{type: network|bridge|ovs|direct, ...}; null: none")
    plugged: bool
    linked: bool
    active: bool = Field(description="plugged and linked")
    bandwidth: dict | None
    vlan: dict | None
    target_dev: str | None = Field(description="The host's tap/macvtap while the VM runs")
    pci_address: str | None = Field(description="domain:bus:slot.function, as the guest sees it")
    ips: list[str] = Field(description="From the network's DHCP leases")
    etag: str = Field(description="Send as If-Match to change only what you read")


class ActionOut(BaseModel):
    kind: Literal["live-update", "unplug", "plug", "config-only", "none"]
    reason: str
    keeps_pci_address: bool


class VnicChange(BaseModel):
    applied: bool = Field(description="false for a dry run (nothing changed)")
    plan: list[ActionOut]
    keeps_pci_address: bool
    vnic: VnicOut | None
    notes: list[str] = []


class Boot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kernel: str | None = Field(None, description="Path on the host")
    initrd: str | None = None
    cmdline: str | None = Field(None, max_length=4096)
    disk: str | None = Field(None, description="A disk image path on the host (raw or .qcow2)")


class VmCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    template: Name | None = Field(
        None,
        description="Made from this template: its size, boot and vNICs (those in nics come "
        "after them); fields given here override the template's",
    )
    memory_mib: int | None = Field(None, ge=16, le=4 * 1024 * 1024, description="Default 256")
    vcpus: int | None = Field(None, ge=1, le=256, description="Default 1")
    boot: Boot | None = Field(None, description="Required without a template")
    nics: list[VnicCreate] = Field([], max_length=28)
    domain_type: DomainType | None = Field(None, description="auto (default): the host's setting")


class TemplateInterface(BaseModel):
    """Host interfaces a VM is attached to directly: one vNIC per name in source."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["macvtap", "ovs", "bridge"]
    source: list[IfName] = Field(min_length=1, max_length=28)
    mode: Literal["bridge", "vepa", "private", "passthrough"] | None = Field(
        None, description="macvtap only (default vepa)"
    )


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    memory_mib: int = Field(256, ge=16, le=4 * 1024 * 1024)
    vcpus: int = Field(1, ge=1, le=256)
    domain_type: DomainType = Field("auto", description="auto: the host's setting")
    boot: Boot
    networks: list[Name] = Field(
        [], max_length=28, description="libvirt networks: one vNIC on each (none by default)"
    )
    interfaces: list[TemplateInterface] = Field([], max_length=28)
    nic_model: NicModel = "virtio"


class TemplateOut(TemplateIn):
    created_at: datetime
    updated_at: datetime


class VmSummary(BaseModel):
    name: str
    uuid: str
    state: str = Field(description="running, paused, shut-off, shutting-down, crashed, ...")
    persistent: bool
    autostart: bool
    memory_mib: int
    vcpus: int
    domain_type: str | None


class VmOut(VmSummary):
    nics: list[VnicOut]


# --- host interfaces -------------------------------------------------------------------------
class InterfaceUser(BaseModel):
    kind: Literal["vm", "network"]
    name: str


class HostInterfaceOut(BaseModel):
    name: str
    type: str = Field(
        description="nic, bond, bridge, vlan, macvtap, macvlan, veth, tap, ovs-bridge, "
        "ovs-datapath, loopback or other"
    )
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


class InterfaceListing(BaseModel):
    host: str
    source: Literal["netlink+ovsdb", "netlink", "libvirt"] = Field(
        description="Where the facts come from: netlink and OVSDB in the namespace of the "
        "host's libvirtd (it runs on this machine), or libvirt's interface APIs (remote)"
    )
    cannot_see: list[str] = Field(description="What that source leaves out")
    interfaces: list[HostInterfaceOut]


class MacPoolOut(BaseModel):
    name: str
    ranges: list[str] = Field(description="FROM-TO, inclusive")
    allow_duplicates: bool
    size: int


class MacPoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ranges: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        min_length=1, max_length=64
    )
    allow_duplicates: bool = False
