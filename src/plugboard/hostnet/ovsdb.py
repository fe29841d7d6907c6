"""Open vSwitch's bridges and ports, read from its database (OVSDB) with ovsdbapp's helpers
and the ovs library's IDL: one snapshot per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovs.db import idl as ovs_idl
from ovsdbapp.backend.ovs_idl import idlutils
from ovsdbapp.exceptions import TimeoutException

TIMEOUT = 5  # seconds


class OvsdbUnavailable(RuntimeError):
    """No OVSDB answers at the endpoint."""


@dataclass
class OvsState:
    bridges: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> facts, ports
    interfaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> port facts


def _one(value) -> Any:
    """An optional OVSDB column (a list of zero or one value) as a value or None."""
    return value[0] if value else None


def read(endpoint: str) -> OvsState:
    try:
        helper = idlutils.get_schema_helper(endpoint, "Open_vSwitch")
    except Exception as err:  # ovsdbapp raises a bare Exception when nothing answers
        raise OvsdbUnavailable(f"no Open vSwitch database answers at {endpoint}") from err
    helper.register_columns("Bridge", ["name", "ports", "datapath_type"])
    helper.register_columns("Port", ["name", "interfaces", "tag", "trunks", "vlan_mode"])
    helper.register_columns("Interface", ["name", "type", "error", "ofport", "external_ids"])
    idl = ovs_idl.Idl(endpoint, helper)
    try:
        idlutils.wait_for_change(idl, timeout=TIMEOUT)
        state = OvsState()
        for bridge in idl.tables["Bridge"].rows.values():
            ports = sorted(p.name for p in bridge.ports if p.name != bridge.name)
            state.bridges[bridge.name] = {
                "datapath_type": bridge.datapath_type or "system",
                "ports": ports,
            }
            for port in bridge.ports:
                for iface in port.interfaces:
                    state.interfaces[iface.name] = {
                        "bridge": bridge.name,
                        "port": port.name,
                        "type": iface.type or "system",
                        "tag": _one(port.tag),
                        "trunks": sorted(port.trunks),
                        "vlan_mode": _one(port.vlan_mode),
                        # ovs-vsctl exits 0 even when OVS could not open the interface; the
                        # reason is here.
                        "error": _one(iface.error),
                        "vm": iface.external_ids.get("vm-id"),
                    }
        return state
    except TimeoutException as err:
        raise OvsdbUnavailable(f"the Open vSwitch database at {endpoint} did not answer") from err
    finally:
        idl.close()
