"""plugboard.netxml: the libvirt network XML format as a Python model.

parse_network(text) -> Network      parse and validate
format_network(net) -> str          canonical XML, as libvirt 9.0's XMLDesc() writes it
validate_network(net) -> None       the checks libvirt makes (NetworkXMLError otherwise)
network_to_json(net) / network_from_json(doc) and network_json_schema()
"""

from __future__ import annotations

from typing import Any

from plugboard.netxml.errors import NetworkXMLError
from plugboard.netxml.model import Network, drop_runtime_state
from plugboard.netxml.safe import parse_xml
from plugboard.netxml.update import apply_update
from plugboard.netxml.validate import validate_network

__all__ = [
    "Network",
    "NetworkXMLError",
    "apply_update",
    "format_network",
    "network_from_json",
    "network_json_schema",
    "network_to_json",
    "parse_network",
    "validate_network",
]


def parse_network(text: str | bytes, *, live: bool = False) -> Network:
    """A network definition, checked as libvirt checks one. `live=True` is for XML that libvirt
    returned for a running network: it keeps the runtime state (connection counts) that a
    definition does not have."""
    root = parse_xml(text, "/network")
    if root.tag != "network":
        raise NetworkXMLError("/", f"the root element is <{root.tag!s}>; expected <network>")
    net = Network.from_element(root, "/network")
    if not live:
        drop_runtime_state(net)
    validate_network(net)
    return net


def format_network(net: Network) -> str:
    return net.format("")


def network_to_json(net: Network) -> dict[str, Any]:
    return net.to_json()


def network_from_json(doc: dict[str, Any]) -> Network:
    net = Network.from_json(doc, "/network")
    validate_network(net)
    return net


def network_json_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    Network.json_schema(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/Network",
        "$defs": defs,
    }
