"""Request and response bodies of VMs, vNICs, templates and the MAC pool, and the two ways
between them and the engine's values: `*_from` reads a request into the engine's terms, each
`Out.from_*` presents an engine value. The vocabularies (card models, macvtap modes, plan
actions, template interface types) are the vNIC model's own `Literal`s."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from plugboard.api.schemas import Name
from plugboard.api.text import LINE_REGEX, Body, omit_default, with_rules
from plugboard.engine import macpool, vms, vnics
from plugboard.engine.templates import TEMPLATE_INTERFACE_TYPES, TemplateInterfaceType, TemplateSpec
from plugboard.engine.vm_spec import HOTPLUG_SLOTS, MAX_HOTPLUG_SLOTS
from plugboard.engine.vm_state import VnicState
from plugboard.errors import InvalidInput
from plugboard.hosts.model import DomainType
from plugboard.store.models import Template
from plugboard.vnic import ActionKind, MacvtapMode, Source, VlanTags, Vnic, VnicModel
from plugboard.vnic.model import (
    DEFAULT_MACVTAP_MODE,
    DEPRECATED_SOURCE_TYPES,
    LIMITS,
    FilterRef,
    Limits,
)


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number is asked for, not true or false")
    return value


# A whole number: 6 and 6.0 (JSON Schema's integers), never true or false.
Count = Annotated[int, BeforeValidator(_not_a_bool)]

VnicName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"),
    Field(description="1-32 of letters, digits, '_', '-' (kept as the libvirt alias ua-<name>)."),
]
IfName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,15}$"),
    Field(description="A host interface name (at most 15 characters)."),
]
# Unicast (the first byte even): a NIC's address. Not all zeros: `ZERO_MAC`, said by a `not`.
MAC_REGEX = r"[0-9A-Fa-f][02468ACEace](:[0-9A-Fa-f]{2}){5}"
ZERO_MAC = "00:00:00:00:00:00"
# The schema says the rule; the engine enforces it (macpool.check_mac), so that a bad MAC gets
# its own 422 MAC_ADDRESS_INVALID saying what is wrong with it (multicast, all zeros, ...).
Mac = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^{MAC_REGEX}$",
            "not": {"const": ZERO_MAC},
            "description": "aa:bb:cc:dd:ee:ff; unicast (the first byte even), not all zeros "
            "(else 422 MAC_ADDRESS_INVALID).",
        }
    ),
]
HostPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096, pattern=LINE_REGEX),
    Field(description="A path on the host, on one line."),
]
DEPRECATED_DIRECT = "`direct` is the old name of `macvtap`, still accepted (deprecated)"


# --- sources ---------------------------------------------------------------------------------
def _all_given(*names: str) -> dict[str, Any]:
    """JSON Schema: each of `names` is given, and not null."""
    return {"required": list(names), "properties": {n: {"not": {"type": "null"}} for n in names}}


class NetworkSource(Body):
    type: Literal["network"]
    network: Name
    portgroup: Name | None = None


class BridgeSource(Body):
    type: Literal["bridge"]
    bridge: IfName


VlanTag = Annotated[int, Field(ge=0, le=4095), BeforeValidator(_not_a_bool)]


class OvsSource(Body):
    """A port of an Open vSwitch bridge: untagged, an access port (vlan) or a trunk, not
    both."""

    model_config = ConfigDict(json_schema_extra=with_rules({"not": _all_given("vlan", "trunk")}))

    type: Literal["ovs"]
    bridge: IfName
    vlan: VlanTag | None = Field(None, description="An access port's VLAN tag")
    trunk: list[VlanTag] | None = Field(
        None, min_length=1, max_length=64, description="A trunk port's VLANs (tagged)"
    )


class MacvtapSource(Body):
    """A macvtap on a host interface (libvirt's <interface type='direct'>)."""

    type: Literal["macvtap", "direct"] = Field(description=DEPRECATED_DIRECT)
    dev: IfName
    mode: MacvtapMode = DEFAULT_MACVTAP_MODE


VnicSource = Annotated[
    NetworkSource | BridgeSource | OvsSource | MacvtapSource,
    Field(discriminator="type", description="Where the cable goes; null: no network."),
]
Rate = Annotated[int, Field(ge=1, le=2**32 - 1), BeforeValidator(_not_a_bool)]


class InboundLimits(Body):
    average: Rate = Field(description="kilobytes/s")
    peak: Rate | None = None
    burst: Rate | None = Field(None, description="kilobytes")
    floor: Rate | None = Field(None, description="guaranteed kilobytes/s (networks with QoS)")


class OutboundLimits(Body):
    average: Rate = Field(description="kilobytes/s")
    peak: Rate | None = None
    burst: Rate | None = Field(None, description="kilobytes")


class VnicBandwidth(Body):
    inbound: InboundLimits | None = None
    outbound: OutboundLimits | None = None


class VnicVlan(Body):
    tags: list[VlanTag] = Field(min_length=1, max_length=64)
    trunk: bool = False


FilterParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]
FilterValue = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=LINE_REGEX)]


class VnicFilter(Body):
    """A libvirt network filter (nwfilter) on the card, e.g. clean-traffic with IP."""

    name: Name = Field(description="The nwfilter's name (`virsh nwfilter-list`)")
    parameters: dict[FilterParam, FilterValue] = Field(
        default_factory=dict,
        max_length=32,
        description='e.g. {"IP": "10.0.0.5"}; names of letters, digits and "_"',
        json_schema_extra={"additionalProperties": False},
    )


# --- vNICs -----------------------------------------------------------------------------------
# A profile sets the source, QoS, VLANs and filter: they are not given beside it.
_PROFILE_ALONE = {
    "not": {
        "allOf": [
            _all_given("profile"),
            {"anyOf": [{"required": [k]} for k in ("source", "bandwidth", "vlan", "filter")]},
        ]
    }
}
# The VLANs are given once: in an Open vSwitch source (vlan or trunk) or as `vlan`, not both.
VLANS_ONCE = {
    "not": {
        "required": ["vlan", "source"],
        "properties": {
            "vlan": {"not": {"type": "null"}},
            "source": {
                "required": ["type"],
                "properties": {"type": {"const": "ovs"}},
                "anyOf": [_all_given("vlan"), _all_given("trunk")],
            },
        },
    }
}
_VNIC_RULES = with_rules({"allOf": [VLANS_ONCE, _PROFILE_ALONE]})
PROFILE_FIELD = Field(
    None,
    description="Wire the vNIC through this vNIC profile (its source, QoS, VLANs and filter; "
    "not given beside them). In a change, null keeps the wiring and forgets the profile.",
)


class VnicFields(Body):
    model_config = ConfigDict(json_schema_extra=_VNIC_RULES)
    mac: Mac | None = Field(None, description="Left out: the next free MAC of the pool.")
    model: VnicModel = "virtio"
    source: VnicSource | None = None
    plugged: bool = True
    linked: bool = True
    bandwidth: VnicBandwidth | None = None
    vlan: VnicVlan | None = None
    filter: VnicFilter | None = None
    profile: Name | None = PROFILE_FIELD


class VnicCreate(VnicFields):
    name: VnicName | None = Field(None, description="Left out: nic1, nic2, ...")


class VnicUpdate(Body):
    """Only the fields sent change; `source: null` means no network."""

    model_config = ConfigDict(json_schema_extra=_VNIC_RULES)

    # Left out: kept. Not null: a card always has them (refused with 422 in vnic_fields_from).
    mac: Mac | SkipJsonSchema[None] = Field(None, json_schema_extra=omit_default)
    model: VnicModel | SkipJsonSchema[None] = Field(None, json_schema_extra=omit_default)
    source: VnicSource | None = None
    plugged: bool | SkipJsonSchema[None] = Field(None, json_schema_extra=omit_default)
    linked: bool | SkipJsonSchema[None] = Field(None, json_schema_extra=omit_default)
    bandwidth: VnicBandwidth | None = None
    vlan: VnicVlan | None = None
    filter: VnicFilter | None = None
    profile: Name | None = PROFILE_FIELD


class VnicOut(BaseModel):
    name: str
    mac: str
    model: str
    source: dict | None = Field(description="{type: network|bridge|ovs|macvtap, ...}; null: none")
    plugged: bool
    linked: bool
    active: bool = Field(description="Plugged and linked on a running VM (false when stopped)")
    active_at_start: bool = Field(
        description="Plugged and linked in the VM's definition: what `active` is once it starts"
    )
    bandwidth: dict | None
    vlan: dict | None
    filter: dict | None = Field(None, description="{name, parameters}: a libvirt nwfilter")
    profile: str | None = Field(None, description="The vNIC profile it is wired through")
    target_dev: str | None = Field(description="The host's tap/macvtap while the VM runs")
    pci_address: str | None = Field(description="domain:bus:slot.function, as the guest sees it")
    ips: list[str] = Field(description="From the network's DHCP leases")
    etag: str = Field(description="Send as If-Match to change only what you read")
    connected: bool | None = Field(
        None,
        description="A running card's tap is on its network (false after the network "
        "restarted and it could not be put back: `disconnected` says why; a change to its "
        "own network repairs it); null when not running or not wired",
    )
    disconnected: str | None = Field(None, description="Why the tap is off its network")
    pending_operation: str | None = Field(
        None,
        description="An interrupted change of this vNIC, not yet finished or rolled back "
        "(changes get 409 OPERATION_PENDING until it is)",
    )
    needs_attention: str | None = Field(
        None, description="Why its state is uncertain (an undo failed); cleared by a change"
    )
    drift: str | None = Field(
        None,
        description="A change made outside plugboard (virsh, ...), against how plugboard last "
        "left it; a change of the vNIC (even to how it is) takes it as plugboard's own",
    )

    @classmethod
    def from_state(cls, state: VnicState) -> VnicOut:
        # Built from plugboard's own values: no second validation.
        return cls.model_construct(
            **vnic_config(state.vnic),
            active=state.active,
            active_at_start=state.vnic.active,
            target_dev=state.target_dev,
            pci_address=state.pci_address,
            ips=state.ips,
            etag=state.etag,
            connected=state.connected,
            disconnected=state.disconnected,
            pending_operation=state.pending_operation,
            needs_attention=state.needs_attention,
            drift=state.drift,
        )


class ActionOut(BaseModel):
    kind: ActionKind
    reason: str
    keeps_pci_address: bool
    pci_address: str | None = Field(
        None, description="A plug's slot (domain:bus:slot.function); null: the card's own"
    )


class VnicChangeOut(BaseModel):
    applied: bool = Field(description="false for a dry run (nothing changed)")
    plan: list[ActionOut]
    keeps_pci_address: bool
    vnic: VnicOut | None
    notes: list[str] = []
    unchecked_hosts: list[str] = Field(
        [], description="Hosts a new MAC could not be checked on (unreachable)"
    )

    @classmethod
    def from_change(cls, change: vnics.VnicChange, notes: list[str]) -> VnicChangeOut:
        return cls.model_construct(
            applied=change.applied,
            plan=[ActionOut.model_construct(**a.__dict__) for a in change.plan.actions],
            keeps_pci_address=change.plan.keeps_pci_address,
            vnic=VnicOut.from_state(change.vnic) if change.vnic is not None else None,
            notes=change.notes + notes,
            unchecked_hosts=change.unchecked_hosts,
        )


def source_config(source: Source | None, vlan: VlanTags | None = None) -> dict[str, Any] | None:
    """The source as clients write it; an Open vSwitch port's VLANs are part of it (vlan: an
    access port's tag, trunk: the tags a trunk carries)."""
    if source is None:
        return None
    keys = {
        "network": ("network", "portgroup"),
        "bridge": ("bridge",),
        "ovs": ("bridge",),
        "macvtap": ("dev", "mode"),
    }.get(source.type, ())
    out = {"type": source.type} | {key: getattr(source, key) for key in keys}
    if source.type == "ovs":
        access = vlan is not None and not vlan.trunk and len(vlan.tags) == 1
        out["vlan"] = vlan.tags[0] if access and vlan is not None else None
        out["trunk"] = list(vlan.tags) if vlan is not None and vlan.trunk else None
    return out


def vnic_config(vnic: Vnic) -> dict[str, Any]:
    """What a client can set on a vNIC, as JSON."""
    return {
        "name": vnic.name,
        "mac": vnic.mac,
        "model": vnic.model,
        "source": source_config(vnic.source, vnic.vlan),
        "plugged": vnic.plugged,
        "linked": vnic.linked,
        "bandwidth": bandwidth_config(vnic.bandwidth),
        "vlan": vlan_config(vnic.vlan),
        "filter": filter_config(vnic.filter),
        "profile": vnic.profile,
    }


def bandwidth_config(limits: Limits) -> dict[str, dict[str, int]] | None:
    bandwidth: dict[str, dict[str, int]] = {}
    for key, value in limits:
        direction, name = key.split(".", 1)
        bandwidth.setdefault(direction, {})[name] = value
    return bandwidth or None


def vlan_config(vlan: VlanTags | None) -> dict[str, Any] | None:
    return {"tags": list(vlan.tags), "trunk": vlan.trunk} if vlan is not None else None


def filter_config(ref: FilterRef | None) -> dict[str, Any] | None:
    return None if ref is None else {"name": ref.name, "parameters": dict(ref.parameters)}


def vnic_fields_from(body: VnicFields | VnicUpdate, only_set: bool) -> dict[str, Any]:
    """The request's vNIC fields as the engine's values (`only_set`: those the client sent)."""
    beside = [k for k in ("source", "bandwidth", "vlan", "filter") if k in body.model_fields_set]
    if body.profile is not None and beside:
        raise InvalidInput(
            f"profile '{body.profile}' sets {', '.join(beside)}: give the profile or them, "
            "not both",
            field="profile",
        )
    fields: dict[str, Any] = {}
    for key in body.model_fields_set if only_set else type(body).model_fields:
        value = getattr(body, key)
        if only_set and value is None and key in ("mac", "model", "plugged", "linked"):
            raise InvalidInput(f"{key} cannot be null; leave it out to keep it", field=key)
        convert = CONVERT.get(key)
        fields[key] = convert(value) if convert is not None else value
    source = getattr(body, "source", None)
    if isinstance(source, OvsSource):
        fields["vlan"] = ovs_vlan(source, body)
    return {k: v for k, v in fields.items() if not (k in ("mac", "name") and v is None)}


def deprecation_notes(body: BaseModel) -> list[str]:
    """What the request spelt the old way (still accepted)."""
    source = getattr(body, "source", None)
    if isinstance(source, MacvtapSource) and source.type == "direct":
        return ["source type 'direct' is deprecated: it is now called 'macvtap'"]
    return []


def _source(value: BaseModel | None) -> Source | None:
    if value is None:
        return None
    fields = value.model_dump(exclude={"vlan", "trunk"})
    fields["type"] = DEPRECATED_SOURCE_TYPES.get(fields["type"], fields["type"])
    if fields["type"] == "macvtap":
        fields["attachment"] = "macvtap"
    return Source(**fields)


def ovs_vlan(source: OvsSource, body: BaseModel) -> VlanTags | None:
    """An OVS source's VLANs as the vNIC's VLAN (a source sent whole: none means untagged)."""
    if source.vlan is not None and source.trunk is not None:
        raise InvalidInput(
            "an Open vSwitch port is an access port (vlan) or a trunk (trunk), not both",
            field="source.trunk",
        )
    vlan = getattr(body, "vlan", None)
    if (source.vlan is not None or source.trunk is not None) and vlan is not None:
        raise InvalidInput(
            "give the VLANs once: in the source (vlan or trunk) or as vlan, not both",
            field="vlan",
        )
    if source.vlan is not None:
        return VlanTags((source.vlan,), False)
    if source.trunk is not None:
        return VlanTags(tuple(source.trunk), True)
    return _vlan(vlan)


def _bandwidth(value: VnicBandwidth | None) -> Limits:
    if value is None:
        return ()
    pairs: list[tuple[str, int]] = []
    for direction in LIMITS:
        limits = getattr(value, direction)
        if limits is not None:
            pairs.extend(
                (f"{direction}.{key}", number)
                for key, number in limits.model_dump().items()
                if number is not None
            )
    return tuple(pairs)


def _vlan(value: VnicVlan | None) -> VlanTags | None:
    return None if value is None else VlanTags(tuple(value.tags), value.trunk)


def _filter(value: VnicFilter | None) -> FilterRef | None:
    if value is None:
        return None
    return FilterRef(value.name, tuple(sorted(value.parameters.items())))


CONVERT: dict[str, Callable[[Any], Any]] = {
    "source": _source,
    "bandwidth": _bandwidth,
    "vlan": _vlan,
    "filter": _filter,
}


# --- VMs -------------------------------------------------------------------------------------
class Boot(Body):
    """A kernel (with initrd and cmdline), or a disk image; at least one of kernel and disk."""

    model_config = ConfigDict(
        json_schema_extra=with_rules({"anyOf": [_all_given("kernel"), _all_given("disk")]})
    )
    kernel: HostPath | None = Field(None, description="Path on the host")
    initrd: HostPath | None = None
    cmdline: str | None = Field(None, max_length=4096, pattern=LINE_REGEX)
    disk: HostPath | None = Field(None, description="A disk image path on the host (raw or .qcow2)")


class VmCreate(Body):
    """A VM from a template, or from a boot of its own (with neither it cannot boot)."""

    model_config = ConfigDict(
        json_schema_extra=with_rules({"anyOf": [_all_given("template"), _all_given("boot")]})
    )
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
    hotplug_slots: Count | None = Field(
        None,
        ge=0,
        le=MAX_HOTPLUG_SLOTS,
        description=f"Free PCI slots for cards hot-plugged later (default {HOTPLUG_SLOTS}, "
        "or the template's): a running VM cannot get more",
    )

    def request(self) -> vms.VmRequest:
        return vms.VmRequest(
            name=self.name,
            template=self.template,
            memory_mib=self.memory_mib,
            vcpus=self.vcpus,
            boot=self.boot.model_dump(exclude_none=True) if self.boot else None,
            domain_type=self.domain_type,
            vnics=[vnic_fields_from(n, only_set=False) for n in self.nics],
            hotplug_slots=self.hotplug_slots,
        )


class VmUpdate(Body):
    """What can be changed of a VM (more to come)."""

    hotplug_slots: Count = Field(
        ge=0,
        le=MAX_HOTPLUG_SLOTS,
        description="At least this many free PCI slots for hot-plugged cards at the VM's next "
        "start (now, for a stopped VM): a running VM cannot get more slots until it restarts",
    )


class VmSummaryOut(BaseModel):
    name: str
    uuid: str
    state: str = Field(description="running, paused, shut-off, shutting-down, crashed, ...")
    persistent: bool
    autostart: bool
    memory_mib: int
    vcpus: int
    domain_type: str | None
    hotplug_slots_free: int | None = Field(
        description="Free PCI slots for new hot-plugged cards (a running VM's now; a stopped "
        "VM's at its start); null for a machine whose slots libvirt alone places (i440fx, or "
        "with PCI bridges)"
    )

    @classmethod
    def from_view(cls, view: vms.VmView) -> VmSummaryOut:
        return cls(**{k: getattr(view, k) for k in VmSummaryOut.model_fields})


class VmOut(VmSummaryOut):
    hotplug_slots_at_start: int | None = Field(
        None, description="Free PCI slots the VM's definition gives it at its next start"
    )
    nics: list[VnicOut]

    @classmethod
    def from_view(cls, view: vms.VmView) -> VmOut:
        summary = {k: getattr(view, k) for k in VmSummaryOut.model_fields}
        return cls(
            **summary,
            hotplug_slots_at_start=view.hotplug_slots_at_start,
            nics=[VnicOut.from_state(v) for v in view.vnics],
        )


class VmCreatedOut(VmOut):
    unchecked_hosts: list[str] = Field(
        [], description="Hosts the new vNICs' MACs could not be checked on (unreachable)"
    )

    @classmethod
    def from_created(cls, created: vms.VmCreated) -> VmCreatedOut:
        vm = VmOut.from_view(created.vm)
        return cls(**dict(vm), unchecked_hosts=created.unchecked_hosts)


# --- templates -------------------------------------------------------------------------------
_NOT_MACVTAP = [t for t in TEMPLATE_INTERFACE_TYPES if t != "macvtap"]


class TemplateInterface(Body):
    """Host interfaces a VM is attached to directly: one vNIC per name in source."""

    model_config = ConfigDict(  # a mode is a macvtap's only
        json_schema_extra=with_rules(
            {
                "not": {
                    "required": ["type", "mode"],
                    "properties": {
                        "type": {"enum": _NOT_MACVTAP},
                        "mode": {"not": {"type": "null"}},
                    },
                }
            }
        )
    )

    type: Literal[TemplateInterfaceType, "direct"] = Field(
        description=f"macvtap, ovs or bridge; {DEPRECATED_DIRECT}"
    )
    source: list[IfName] = Field(min_length=1, max_length=28)
    mode: MacvtapMode | None = Field(None, description="macvtap only (default vepa)")


class TemplateCreate(Body):
    name: Name
    memory_mib: int = Field(256, ge=16, le=4 * 1024 * 1024)
    vcpus: int = Field(1, ge=1, le=256)
    domain_type: DomainType = Field("auto", description="auto: the host's setting")
    boot: Boot
    networks: list[Name] = Field(
        [], max_length=28, description="libvirt networks: one vNIC on each (none by default)"
    )
    interfaces: list[TemplateInterface] = Field([], max_length=28)
    nic_model: VnicModel = "virtio"
    hotplug_slots: Count = Field(
        HOTPLUG_SLOTS,
        ge=0,
        le=MAX_HOTPLUG_SLOTS,
        description="Free PCI slots its VMs get for cards hot-plugged later",
    )

    def spec(self) -> TemplateSpec:
        fields = self.model_dump()
        fields["boot"] = {k: v for k, v in fields["boot"].items() if v is not None}
        for iface in fields["interfaces"]:
            iface["type"] = DEPRECATED_SOURCE_TYPES.get(iface["type"], iface["type"])
        return TemplateSpec(**fields)


class TemplateUpdate(TemplateCreate):
    """A template whole, replacing the one of its name."""

    name: Name | SkipJsonSchema[None] = Field(  # type: ignore[assignment]
        None,
        description="Left out: the path's. Given, it must be the path's (refused with 422 "
        "otherwise: a template is not renamed, create one under the new name).",
        json_schema_extra=omit_default,
    )

    @field_validator("name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("name cannot be null; leave it out (the path names the template)")
        return value

    def spec_for(self, name: str) -> TemplateSpec:
        """The template as the engine takes it, named by the path unless the body names it."""
        return self.model_copy(update={"name": self.name or name}).spec()


class TemplateOut(TemplateCreate):
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_template(cls, template: Template) -> TemplateOut:
        return cls.model_validate({key: getattr(template, key) for key in TemplateOut.model_fields})


# --- the MAC pool ----------------------------------------------------------------------------
class MacPoolOut(BaseModel):
    name: str
    ranges: list[str] = Field(description="FROM-TO, inclusive")
    allow_duplicates: bool
    size: int

    @classmethod
    def from_pool(cls, pool: macpool.Pool) -> MacPoolOut:
        return cls(
            name=pool.name,
            ranges=[f"{a}-{b}" for a, b in pool.ranges],
            allow_duplicates=pool.allow_duplicates,
            size=pool.size,
        )


MacRange = Annotated[
    str,
    StringConstraints(pattern=rf"^{MAC_REGEX}-{MAC_REGEX}$"),
    Field(json_schema_extra={"not": {"pattern": f"^{ZERO_MAC}-|-{ZERO_MAC}$"}}),
]


class MacPoolUpdate(Body):
    ranges: list[MacRange] = Field(
        min_length=1,
        max_length=64,
        description="FROM-TO, inclusive, of unicast MACs other than all zeros. Rules between "
        "values, refused with 422 naming the range: FROM is no higher than TO, both have the "
        "same first byte (a range never reaches a multicast MAC), ranges do not overlap.",
    )
    allow_duplicates: bool = False
