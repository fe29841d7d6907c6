"""Parsing untrusted XML: no entities, no DTDs, no network, bounded size and depth."""

from __future__ import annotations

from lxml import etree

from plugboard.netxml.errors import NetworkXMLError

MAX_BYTES = 4 * 1024 * 1024  # libvirt's RPC refuses a longer string (VIR_NET_MESSAGE_STRING_MAX)
# libxml2 itself refuses documents nested deeper than 256 elements (unless XML_PARSE_HUGE,
# which huge_tree=False keeps off); the network format nests 6 deep.
MAX_DEPTH = 256

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse_xml(text: str | bytes, path: str = "/") -> etree._Element:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > MAX_BYTES:
        raise NetworkXMLError(
            path, f"the document is {len(data)} bytes; at most {MAX_BYTES} are accepted"
        )
    if b"\x00" in data or data.startswith((b"\xfe\xff", b"\xff\xfe")):
        # UTF-16/32 would hide the markup from the check below.
        raise NetworkXMLError(path, "the document must be UTF-8 (or ASCII)")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise NetworkXMLError(path, "DTDs and entity declarations are not accepted")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        if "Excessive depth" in str(err):
            raise NetworkXMLError(path, f"elements nest more than {MAX_DEPTH} deep") from None
        raise NetworkXMLError(path, f"not well-formed XML: {err}") from None
    except ValueError as err:  # lxml refuses str with an encoding declaration, and the like
        raise NetworkXMLError(path, f"not well-formed XML: {err}") from None
    return root
