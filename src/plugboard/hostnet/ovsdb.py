"""Open vSwitch's bridges and ports, read from its database (OVSDB) with the ovs library's
JSON-RPC client: one `transact` of three selects, no schema download, no IDL (which costs
15 ms of schema parsing per read)."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from typing import Any

import ovs.poller
from ovs import jsonrpc, stream

TIMEOUT = 5.0  # seconds
COLUMNS = {
    "Bridge": ["_uuid", "name", "ports", "datapath_type"],
    "Port": ["_uuid", "name", "interfaces", "tag", "trunks", "vlan_mode"],
    "Interface": ["_uuid", "name", "type", "error", "external_ids"],
}
VM_KEYS = ("vm-id", "attached-mac", "iface-id")  # libvirt's marks on a VM's interface


class OvsdbUnavailable(RuntimeError):
    """No OVSDB answers at the endpoint."""


@dataclass
class OvsState:
    bridges: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> facts, ports
    interfaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> port facts


def _set(value) -> list:
    """An OVSDB set (["set", [...]] or a single atom) as a list."""
    if isinstance(value, list) and value and value[0] == "set":
        return list(value[1])
    return [value]


def _uuids(value) -> list[str]:
    return [atom[1] for atom in _set(value)]


def _one(value) -> Any:
    """An optional column (a set of zero or one atom) as the atom or None."""
    atoms = _set(value)
    return atoms[0] if atoms else None


def _map(value) -> dict:
    return dict(value[1]) if isinstance(value, list) and value and value[0] == "map" else {}


def _transact(endpoint: str, operations: list[dict]) -> list[dict]:
    deadline = time.monotonic() + TIMEOUT
    error, conn_stream = stream.Stream.open_block(stream.Stream.open(endpoint), TIMEOUT * 1000)
    if error:
        raise OvsdbUnavailable(f"no Open vSwitch database answers at {endpoint}")
    rpc = jsonrpc.Connection(conn_stream)
    try:
        request = jsonrpc.Message.create_request("transact", ["Open_vSwitch", *operations])
        error = rpc.send(request)
        while not error:
            error, reply = rpc.recv()
            if reply is not None and reply.id == request.id:
                if reply.type == jsonrpc.Message.T_ERROR:
                    raise OvsdbUnavailable(f"the Open vSwitch database refused: {reply.error}")
                return reply.result
            if error not in (0, errno.EAGAIN):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise OvsdbUnavailable(f"the Open vSwitch database at {endpoint} did not answer")
            error = 0
            rpc.run()
            poller = ovs.poller.Poller()
            rpc.wait(poller)
            rpc.recv_wait(poller)
            poller.timer_wait(int(left * 1000))
            poller.block()
        raise OvsdbUnavailable(f"the Open vSwitch database at {endpoint} went away")
    finally:
        rpc.close()


def read(endpoint: str) -> OvsState:
    results = _transact(
        endpoint,
        [{"op": "select", "table": t, "where": [], "columns": c} for t, c in COLUMNS.items()],
    )
    bridges, ports, ifaces = ({r["_uuid"][1]: r for r in result["rows"]} for result in results)
    state = OvsState()
    for bridge in bridges.values():
        members = [ports[u] for u in _uuids(bridge["ports"]) if u in ports]
        state.bridges[bridge["name"]] = {
            "datapath_type": bridge["datapath_type"] or "system",
            "ports": sorted(p["name"] for p in members if p["name"] != bridge["name"]),
            "layout": _layout(bridge["name"], members, ifaces),
        }
        for port in members:
            for uuid in _uuids(port["interfaces"]):
                iface = ifaces.get(uuid)
                if iface is None:
                    continue
                state.interfaces[iface["name"]] = {
                    "bridge": bridge["name"],
                    "port": port["name"],
                    "type": iface["type"] or "system",
                    "tag": _one(port["tag"]),
                    "trunks": sorted(_set(port["trunks"])),
                    "vlan_mode": _one(port["vlan_mode"]),
                    # ovs-vsctl exits 0 even when OVS could not open the interface; the reason
                    # is here.
                    "error": _one(iface["error"]),
                    "vm": _map(iface["external_ids"]).get("vm-id"),
                }
    return state


def _layout(bridge: str, members: list[dict], ifaces: dict[str, dict]) -> dict[str, dict]:
    """Each port of a bridge (not its own) with its interfaces: what a desired state's
    ovs_bridge (ports, bonds, internal ports with tags) is read from. `vm`: a port libvirt
    made for a VM's vNIC, which a host network change leaves alone."""
    found = {}
    for port in members:
        rows = [ifaces[u] for u in _uuids(port["interfaces"]) if u in ifaces]
        if port["name"] == bridge or not rows:
            continue
        found[port["name"]] = {
            "interfaces": sorted(r["name"] for r in rows),
            "internal": all(r["type"] == "internal" for r in rows),
            "tag": _one(port["tag"]),
            "vm": any(k in _map(r["external_ids"]) for r in rows for k in VM_KEYS),
        }
    return found


# --- Mirror rows (plugboard.hostnet.mirror) -----------------------------------------------------
@dataclass(frozen=True)
class MirrorRow:
    uuid: str
    name: str
    bridge: str
    output_port: str | None  # the port's name; None when the port is gone (a weak reference)


def _check(results: list[dict]) -> list[dict]:
    """A transaction's results; OVSDB answers a refused operation with an error in its place."""
    for result in results:
        if isinstance(result, dict) and "error" in result:
            raise OvsdbUnavailable(
                f"the Open vSwitch database refused: {result['error']}: {result.get('details', '')}"
            )
    return results


def plugboard_mirrors(endpoint: str, key: str) -> dict[str, MirrorRow]:
    """The Mirror rows whose external_ids have `key`, by its value."""
    results = _check(
        _transact(
            endpoint,
            [
                {"op": "select", "table": "Bridge", "where": [],
                 "columns": ["_uuid", "name", "mirrors"]},
                {"op": "select", "table": "Port", "where": [], "columns": ["_uuid", "name"]},
                {"op": "select", "table": "Mirror", "where": [],
                 "columns": ["_uuid", "name", "output_port", "external_ids"]},
            ],
        )
    )  # fmt: skip
    bridges, ports, mirrors = (result["rows"] for result in results)
    port_names = {p["_uuid"][1]: p["name"] for p in ports}
    bridge_of = {u: b["name"] for b in bridges for u in _uuids(b["mirrors"])}
    found: dict[str, MirrorRow] = {}
    for row in mirrors:
        owner = _map(row["external_ids"]).get(key)
        uuid = row["_uuid"][1]
        if owner is None or uuid not in bridge_of:
            continue
        output = _one(row["output_port"])
        port = port_names.get(output[1]) if output else None
        found[owner] = MirrorRow(uuid, row["name"], bridge_of[uuid], port)
    return found


def add_mirror(endpoint: str, bridge: str, name: str, port: str, ids: dict[str, str]) -> None:
    """A Mirror of every frame on `bridge` (select_all) to its port `port`."""
    found = _check(
        _transact(
            endpoint,
            [{"op": "select", "table": "Port", "where": [["name", "==", port]],
              "columns": ["_uuid"]}],
        )
    )[0]["rows"]  # fmt: skip
    if not found:
        raise OvsdbUnavailable(f"Open vSwitch has no port '{port}'")
    _check(
        _transact(
            endpoint,
            [
                {"op": "insert", "table": "Mirror", "uuid-name": "mirror",
                 "row": {"name": name, "select_all": True,
                         "output_port": ["uuid", found[0]["_uuid"][1]],
                         "external_ids": ["map", sorted(ids.items())]}},
                {"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                 "mutations": [["mirrors", "insert", ["named-uuid", "mirror"]]]},
            ],
        )
    )  # fmt: skip


def delete_mirror(endpoint: str, mirror: MirrorRow) -> None:
    """Take the row off its bridge (OVSDB then drops it: Mirror is not a root table)."""
    _check(
        _transact(
            endpoint,
            [{"op": "mutate", "table": "Bridge", "where": [["name", "==", mirror.bridge]],
              "mutations": [["mirrors", "delete", ["uuid", mirror.uuid]]]}],
        )
    )  # fmt: skip
