"""plugboard's record of a VM's vNICs, kept in the domain's own `<metadata>`.

What libvirt cannot hold is kept there, under plugboard's namespace:

    <plugboard:vnics xmlns:plugboard="https://plugboard.dev/xmlns/vnics/1">
      <vnic name="nic2" plugged="no" linked="yes"><interface type="network">...</interface></vnic>
      <vnic name="nic3" linked="yes"/>   <!-- no network: the wish for the cable -->
      <vnic name="nic4" linked="yes" profile="gold"/>   <!-- wired through a vNIC profile -->
    </plugboard:vnics>

While a change of several steps runs on a running VM, the record also names it, with the card
as it was before, so any service process (and `virsh dumpxml`) can see it:

      <pending op="8f0c..." vnic="nic1"><interface type="network">...</interface></pending>

An unplugged vNIC keeps its whole `<interface>` there (with its PCI address, so it goes back
into the same slot). A vNIC with no network is a card on the black-hole network with its link
down; its record says whether it is linked once it gets a network. So a VM carries its whole
state, and `virsh dumpxml` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from plugboard.netxml.interface import Interface
from plugboard.vnic.model import Vnic
from plugboard.vnic.xml import interface_of

NS = "https://plugboard.dev/xmlns/vnics/1"
NS_KEY = "plugboard"


@dataclass
class VnicRecord:
    """plugboard's record of one vNIC in the domain's metadata."""

    name: str
    plugged: bool
    linked: bool
    interface: Interface | None = None  # the whole card, for an unplugged vNIC
    profile: str | None = None  # the vNIC profile it is wired through


@dataclass
class PendingMark:
    """A change of several steps under way (or interrupted) on the VM's vNIC `vnic`."""

    op: str
    vnic: str
    before: Interface | None = None  # the card as it was, when it was plugged


def record_for(vnic: Vnic, iface: Interface | None) -> VnicRecord | None:
    """What plugboard must remember of `vnic` beyond its `<interface>` (None: nothing);
    `iface` is the card an unplugged vNIC keeps."""
    if not vnic.plugged:
        return VnicRecord(vnic.name, False, vnic.linked, interface=iface, profile=vnic.profile)
    if vnic.source is None or vnic.profile is not None:
        return VnicRecord(vnic.name, plugged=True, linked=vnic.linked, profile=vnic.profile)
    return None


def read_records(domain: etree._Element) -> dict[str, VnicRecord]:
    """The records in a domain's XML."""
    root = domain.find(f"./metadata/{{{NS}}}vnics")
    found: dict[str, VnicRecord] = {}
    if root is None:
        return found
    for entry in root.iterfind(f"{{{NS}}}vnic"):
        card = entry.find(f"{{{NS}}}interface")
        name = entry.get("name", "")
        found[name] = VnicRecord(
            name=name,
            plugged=entry.get("plugged", "yes") != "no",
            linked=entry.get("linked", "yes") != "no",
            interface=interface_of(_without_namespace(card)) if card is not None else None,
            profile=entry.get("profile"),
        )
    return found


def _without_namespace(node: etree._Element) -> etree._Element:
    """libvirt puts every element under <metadata> into plugboard's namespace; the card
    itself is a plain <interface>."""
    plain = etree.fromstring(etree.tostring(node))
    for element in plain.iter(etree.Element):
        element.tag = etree.QName(element).localname
    etree.cleanup_namespaces(plain)
    return plain


def read_pending(domain: etree._Element) -> PendingMark | None:
    entry = domain.find(f"./metadata/{{{NS}}}vnics/{{{NS}}}pending")
    if entry is None:
        return None
    card = entry.find(f"{{{NS}}}interface")
    return PendingMark(
        op=entry.get("op", ""),
        vnic=entry.get("vnic", ""),
        before=interface_of(_without_namespace(card)) if card is not None else None,
    )


def records_xml(records: dict[str, VnicRecord], pending: PendingMark | None = None) -> str | None:
    """The metadata element for `records` (and a pending change), as setMetadata takes it
    (None: nothing to keep)."""
    root = _element(records, namespaced=False, pending=pending)
    return None if root is None else etree.tostring(root, encoding="unicode")


def metadata_xml_of(domain: etree._Element) -> str | None:
    """The metadata element a domain's XML holds now, as `records_xml` writes it."""
    return records_xml(read_records(domain), read_pending(domain))


def put_records(domain: etree._Element, records: dict[str, VnicRecord]) -> None:
    """Put `records` into a domain's XML (for defineXML) as libvirt itself writes them: every
    element in plugboard's namespace."""
    metadata = domain.find("metadata")
    if metadata is not None:
        for old in metadata.findall(f"{{{NS}}}vnics"):
            metadata.remove(old)
    root = _element(records, namespaced=True)
    if root is None:
        if metadata is not None and len(metadata) == 0:
            domain.remove(metadata)
        return
    if metadata is None:
        metadata = etree.Element("metadata")
        anchor = domain.find("name")
        domain.insert(domain.index(anchor) + 1 if anchor is not None else 0, metadata)
    metadata.append(root)


def _element(
    records: dict[str, VnicRecord], namespaced: bool, pending: PendingMark | None = None
) -> etree._Element | None:
    if not records and pending is None:
        return None

    def tag(name: str) -> str:
        return f"{{{NS}}}{name}" if namespaced else name

    root = etree.Element(tag("vnics"), nsmap={NS_KEY: NS} if namespaced else None)
    for record in sorted(records.values(), key=lambda r: r.name):
        entry = etree.SubElement(root, tag("vnic"), name=record.name)
        if not record.plugged:
            entry.set("plugged", "no")
        entry.set("linked", "yes" if record.linked else "no")
        if record.profile is not None:
            entry.set("profile", record.profile)
        if record.interface is not None:
            entry.append(_card(record.interface, tag))
    if pending is not None:
        mark = etree.SubElement(root, tag("pending"), op=pending.op, vnic=pending.vnic)
        if pending.before is not None:
            mark.append(_card(pending.before, tag))
    return root


def _card(iface: Interface, tag: Callable[[str], str]) -> etree._Element:
    card = etree.fromstring(iface.format())
    for element in card.iter(etree.Element):
        element.tag = tag(str(element.tag))
    return card
