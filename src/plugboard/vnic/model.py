"""A VM network interface as plugboard sees it (the oVirt model): a card that is plugged or
not, with a cable that is linked or not, wired to a source or to nothing.

The vocabularies (card models, source types, macvtap modes) are declared here once, as
`Literal` types; their tuples come from `get_args`, and the API's schemas and the CLI import
them from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from plugboard.netxml.model import MacvtapMode

VnicModel = Literal[
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "ne2k_pci",
    "pcnet",
    "i82551",
    "i82557b",
    "i82559er",
]
MODELS: tuple[VnicModel, ...] = get_args(VnicModel)
# What a card wired by plugboard is attached to. A libvirt network, a Linux bridge, a macvtap
# on a host interface (libvirt's <interface type='direct'>), or a port of an Open vSwitch
# bridge.
SourceType = Literal["network", "bridge", "macvtap", "ovs"]
SOURCE_TYPES: tuple[SourceType, ...] = get_args(SourceType)
# The spelling of "macvtap" before plugboard settled on one word; still read, never written.
DEPRECATED_SOURCE_TYPES = {"direct": "macvtap"}
DEFAULT_MACVTAP_MODE: MacvtapMode = "vepa"
# How QEMU's side of the card is attached: libvirt can move a live card between sources of
# the same attachment (a tap on some Linux bridge, a port of some Open vSwitch bridge), not
# between a tap and a macvtap, nor on or off Open vSwitch (libvirt 9.0 cannot change a live
# card's virtualport).
Attachment = Literal["tap", "ovs", "macvtap", "hostdev"]
# QoS limits as (direction.limit, value) pairs: (("inbound.average", 1000),).
Limits = tuple[tuple[str, int], ...]
LIMITS: dict[str, tuple[str, ...]] = {
    "inbound": ("average", "peak", "burst", "floor"),
    "outbound": ("average", "peak", "burst"),
}


@dataclass(frozen=True)
class Source:
    """Where the cable goes. `type` is one of SOURCE_TYPES, or libvirt's own type of a card
    plugboard shows but does not wire (user, ethernet, hostdev, ...). `attachment` is
    resolved by the engine (a libvirt network's forward mode decides whether its vNICs are
    taps on a bridge or macvtaps)."""

    type: str
    network: str | None = None
    portgroup: str | None = None
    bridge: str | None = None
    dev: str | None = None
    mode: str | None = None  # macvtap: one of MACVTAP_MODES
    attachment: Attachment = "tap"

    @property
    def managed(self) -> bool:
        """Whether plugboard can wire a card to this kind of source."""
        return self.type in SOURCE_TYPES


@dataclass(frozen=True)
class VlanTags:
    """VLAN tags of the port (libvirt applies them on Open vSwitch and some SR-IOV NICs)."""

    tags: tuple[int, ...]
    trunk: bool = False


@dataclass(frozen=True)
class FilterRef:
    """A libvirt network filter (nwfilter) on the card, with its parameters:
    `clean-traffic` with (("IP", "10.0.0.5"),) keeps the guest to its MAC and address."""

    name: str
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Vnic:
    name: str
    mac: str
    model: str = "virtio"  # one of MODELS, or "default" (a card without <model>)
    source: Source | None = None  # None: no network (a black-hole bridge, link down)
    plugged: bool = True
    linked: bool = True
    bandwidth: Limits = field(default=())
    vlan: VlanTags | None = None
    filter: FilterRef | None = None
    # The vNIC profile it is wired through (plugboard.engine.profiles): its source, QoS, VLAN
    # and filter are the profile's. Kept in plugboard's record in the domain's metadata.
    profile: str | None = None

    @property
    def active(self) -> bool:
        return self.plugged and self.linked

    @property
    def alias(self) -> str:
        """libvirt's user alias, which keeps the vNIC's identity across MAC changes."""
        return f"ua-{self.name}"

    def with_(self, **changes: Any) -> Vnic:
        return replace(self, **changes)

    def as_chosen(self) -> Vnic:
        """The vNIC as a client chose it: the attachment is derived, not chosen."""
        if self.source is None or self.source.attachment == "tap":
            return self
        return replace(self, source=replace(self.source, attachment="tap"))

    def same_as(self, other: Vnic) -> bool:
        """Equal as the client sees them."""
        return self.as_chosen() == other.as_chosen()

    @property
    def etag(self) -> str:
        """A strong ETag of what a client can change on the vNIC."""
        digest = hashlib.sha256(repr(self.as_chosen()).encode()).hexdigest()
        return f'"{digest[:20]}"'


def vnic_to_json(vnic: Vnic) -> dict[str, Any]:
    """The vNIC as plain data (for the journal): `vnic_from_json` reads it back."""
    return asdict(vnic)


def vnic_from_json(data: dict[str, Any]) -> Vnic:
    source = data.get("source")
    vlan = data.get("vlan")
    nwfilter = data.get("filter")
    return Vnic(
        name=data["name"],
        mac=data["mac"],
        model=data["model"],
        source=Source(**source) if source is not None else None,
        plugged=data["plugged"],
        linked=data["linked"],
        bandwidth=tuple((key, value) for key, value in data["bandwidth"]),
        vlan=VlanTags(tuple(vlan["tags"]), vlan["trunk"]) if vlan is not None else None,
        filter=(
            FilterRef(nwfilter["name"], tuple((k, v) for k, v in nwfilter["parameters"]))
            if nwfilter is not None
            else None
        ),
        profile=data.get("profile"),
    )


@dataclass(frozen=True)
class VnicEdit:
    """What a client asks of one vNIC: only the fields it set (names of Vnic's fields)."""

    fields: dict[str, Any]

    @property
    def new_mac(self) -> str | None:
        mac = self.fields.get("mac")
        return mac if isinstance(mac, str) else None

    def applied_to(self, vnic: Vnic) -> Vnic:
        fields = dict(self.fields)
        leaves_ovs = vnic.source is not None and vnic.source.type == "ovs"
        new = fields.get("source", vnic.source)
        if leaves_ovs and (new is None or new.type != "ovs") and "vlan" not in fields:
            fields["vlan"] = None  # the VLANs were the OVS port's; they do not come along
        return vnic.with_(**fields)
