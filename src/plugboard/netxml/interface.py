"""A domain's `<interface>` (libvirt's domain format), declared like the network format.

plugboard writes the children it manages (the card's MAC, source, model, network filter, link,
VLANs, QoS, Open vSwitch port and alias) and keeps every other child as it is (driver, rom,
boot order, mtu, ...), byte for byte, so re-wiring a card never loses what someone else set on
it. The `<vlan>`, `<bandwidth>` and `<virtualport>` are the network format's own elements.
"""

from __future__ import annotations

from plugboard.netxml.model import Bandwidth, VirtualPort, Vlan
from plugboard.netxml.xmlmodel import Attr, Blob, Child, Children, Node, Others


class InterfaceMac(Node):
    TAG = "mac"
    address = Attr()


class InterfaceSource(Node):
    """Where the card is wired: a network (and port group), a bridge, or a host device and its
    macvtap mode. libvirt adds runtime attributes to a running card's source (the network's
    bridge and port id); they are not declared, so they are never written back."""

    TAG = "source"
    network = Attr()
    portgroup = Attr()
    bridge = Attr()
    dev = Attr()
    mode = Attr()


class InterfaceTarget(Node):
    TAG = "target"
    dev = Attr()
    managed = Attr()


class InterfaceModel(Node):
    TAG = "model"
    type = Attr()


class InterfaceLink(Node):
    TAG = "link"
    state = Attr()


class InterfaceAlias(Node):
    TAG = "alias"
    name = Attr()


class FilterParameter(Node):
    TAG = "parameter"
    name = Attr()
    value = Attr()


class InterfaceFilterRef(Node):
    """A network filter (libvirt's nwfilter) on the card, and its parameters."""

    TAG = "filterref"
    filter = Attr()
    parameters = Children(FilterParameter)


class Interface(Node):
    TAG = "interface"
    type = Attr()
    trust_guest_rx_filters = Attr("trustGuestRxFilters")
    managed = Attr()
    mac = Child(InterfaceMac)
    source = Child(InterfaceSource)
    virtualport = Child(VirtualPort)
    target = Child(InterfaceTarget)
    model = Child(InterfaceModel)
    filterref = Child(InterfaceFilterRef)
    link = Child(InterfaceLink)
    vlan = Child(Vlan)
    bandwidth = Child(Bandwidth)
    alias = Child(InterfaceAlias)
    address = Blob()  # the card's slot: kept whole (PCI, or another bus's address)
    others = Others()
