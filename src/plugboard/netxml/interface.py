"""A domain's `<interface>` (libvirt's domain format), declared like the network format.

plugboard writes the children it manages (the card's MAC, source, model, link, VLANs, QoS,
Open vSwitch port and alias) and keeps every other child as it is (driver, rom, boot order,
mtu, ...), byte for byte, so re-wiring a card never loses what someone else set on it. The
`<vlan>`, `<bandwidth>` and `<virtualport>` are the network format's own elements.
"""

from __future__ import annotations

from plugboard.netxml.model import Bandwidth, VirtualPort, Vlan
from plugboard.netxml.xmlmodel import Attr, Blob, Child, Node, Others


class InterfaceMac(Node):
    TAG = "mac"
    FIELDS = (Attr("address"),)


class InterfaceSource(Node):
    """Where the card is wired: a network (and port group), a bridge, or a host device and its
    macvtap mode. libvirt adds runtime attributes to a running card's source (the network's
    bridge and port id); they are not declared, so they are never written back."""

    TAG = "source"
    FIELDS = (Attr("network"), Attr("portgroup"), Attr("bridge"), Attr("dev"), Attr("mode"))


class InterfaceTarget(Node):
    TAG = "target"
    FIELDS = (Attr("dev"), Attr("managed"))


class InterfaceModel(Node):
    TAG = "model"
    FIELDS = (Attr("type"),)


class InterfaceLink(Node):
    TAG = "link"
    FIELDS = (Attr("state"),)


class InterfaceAlias(Node):
    TAG = "alias"
    FIELDS = (Attr("name"),)


class Interface(Node):
    TAG = "interface"
    FIELDS = (
        Attr("type"),
        Attr("trustGuestRxFilters", key="trust_guest_rx_filters"),
        Attr("managed"),
        Child("mac", cls=InterfaceMac),
        Child("source", cls=InterfaceSource),
        Child("virtualport", cls=VirtualPort),
        Child("target", cls=InterfaceTarget),
        Child("model", cls=InterfaceModel),
        Child("link", cls=InterfaceLink),
        Child("vlan", cls=Vlan),
        Child("bandwidth", cls=Bandwidth),
        Child("alias", cls=InterfaceAlias),
        Blob("address"),  # the card's slot: kept whole (PCI, or another bus's address)
        Others("*", key="others"),
    )
