"""Reading domains: what every definition of a domain says."""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
from lxml import etree


def definitions(conn: libvirt.virConnect) -> Iterator[tuple[libvirt.virDomain, etree._Element]]:
    """Each domain with each of its definitions: the running one and, for a running VM that
    has one, the persistent one (a stopped VM has only that; it is read once)."""
    for dom in conn.listAllDomains():
        both = dom.isActive() and dom.isPersistent()
        for flag in (0, libvirt.VIR_DOMAIN_XML_INACTIVE) if both else (0,):
            yield dom, etree.fromstring(dom.XMLDesc(flag).encode())
