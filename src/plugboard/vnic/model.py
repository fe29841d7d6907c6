"""A VM network interface as plugboard sees it (the oVirt model): a card that is plugged or
not, with a cable that is linked or not, wired to a source or to nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

MODELS = (
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "ne2k_pci",
    "pcnet",
    "i82551",
    "i82557b",
    "i82559er",
)
SourceType = Literal["network", "bridge", "direct", "ovs"]
# How QEMU's side of the card is attached: libvirt can move a live card between sources of
# the same attachment (a tap on some Linux bridge, a port of some Open vSwitch bridge), not
# between a tap and a macvtap, nor on or off Open vSwitch (libvirt 9.0 cannot change a live
# card's virtualport).
Attachment = Literal["tap", "ovs", "macvtap", "hostdev"]


@dataclass(frozen=True)
class Source:
    """Where the cable goes. `attachment` is resolved by the engine (a libvirt network's
    forward mode decides whether its vNICs are taps on a bridge or macvtaps)."""

    type: SourceType
    network: str | None = None
    portgroup: str | None = None
    bridge: str | None = None
    dev: str | None = None
    mode: str | None = None  # direct: bridge, vepa, private, passthrough
    attachment: Attachment = "tap"


@dataclass(frozen=True)
class Vlan:
    """VLAN tags of the port (libvirt applies them on Open vSwitch and some SR-IOV NICs)."""

    tags: tuple[int, ...]
    trunk: bool = False


@dataclass(frozen=True)
class Vnic:
    name: str
    mac: str
    model: str = "virtio"
    source: Source | None = None  # None: no network (a black-hole bridge, link down)
    plugged: bool = True
    linked: bool = True
    bandwidth: tuple[tuple[str, int], ...] = field(default=())  # (("inbound.average", 1000),)
    vlan: Vlan | None = None

    @property
    def active(self) -> bool:
        return self.plugged and self.linked

    @property
    def alias(self) -> str:
        """libvirt's user alias, which keeps the vNIC's identity across MAC changes."""
        return f"ua-{self.name}"

    def with_(self, **changes) -> Vnic:
        return replace(self, **changes)
