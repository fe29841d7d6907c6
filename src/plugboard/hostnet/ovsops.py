"""The Open vSwitch side of applying a host network change (issue 18): a checkpoint of the
OVSDB rows of the bridges a change touches, one transaction per bridge to make it as asked
(ports, bonds, internal ports with VLAN tags), its removal, the rollback to the checkpoint,
and the check of OVSDB against the desired state.

Over OVSDB's JSON-RPC (plugboard.hostnet.ovsdb), not ovs-vsctl: a transaction is all or
nothing, and its outcome (Interface.error) is read back by the same client. ovs-vswitchd
carries a transaction out after it commits: `settle` waits for its `cur_cfg` to reach the
transaction's `next_cfg`, as ovs-vsctl does, before the errors are read.

A port whose interfaces libvirt made for a VM (external_ids vm-id, ...) is never touched: a
VM's vNIC stays on its bridge whatever a change asks.
"""

from __future__ import annotations

import time
from typing import Any

from plugboard.hostnet.desired import Interface, NetworkState
from plugboard.hostnet.ovsdb import VM_KEYS, OvsdbUnavailable, _check, _map, _one
from plugboard.hostnet.ovsdb import _transact as transact
from plugboard.hostnet.ovsdb import _uuids as uuids

# The writable columns kept in a checkpoint, so a port can be inserted again as it was.
PORT_COLUMNS = ["name", "tag", "trunks", "vlan_mode", "bond_mode", "lacp", "other_config",
                "external_ids"]  # fmt: skip
IFACE_COLUMNS = ["name", "type", "options", "external_ids", "other_config", "mtu_request"]
SETTLE = 10.0  # seconds ovs-vswitchd has to carry a transaction out
EMPTY: list = ["set", []]


class OvsStepFailed(RuntimeError):
    """Open vSwitch refused a change or could not open an interface; says which and why."""


# --- reading --------------------------------------------------------------------------------
def _rows(endpoint: str) -> tuple[dict, dict, dict]:
    """Bridge, Port and Interface rows by uuid (the columns a checkpoint keeps)."""
    ops = [
        {"op": "select", "table": "Bridge", "where": [],
         "columns": ["_uuid", "name", "datapath_type", "ports"]},
        {"op": "select", "table": "Port", "where": [],
         "columns": ["_uuid", "interfaces", *PORT_COLUMNS]},
        {"op": "select", "table": "Interface", "where": [],
         "columns": ["_uuid", "error", *IFACE_COLUMNS]},
    ]  # fmt: skip
    results = _check(transact(endpoint, ops))
    by_uuid = ({r["_uuid"][1]: r for r in result["rows"]} for result in results)
    bridges, ports, ifaces = by_uuid
    return bridges, ports, ifaces


def checkpoint(endpoint: str, names: set[str]) -> dict[str, Any]:
    """The bridges named, as OVSDB has them ({"name": None} for one it does not have), and
    the datapath the host's bridges use (for a new one)."""
    bridges, ports, ifaces = _rows(endpoint)
    saved: dict[str, Any] = {name: None for name in names}
    for bridge in bridges.values():
        if bridge["name"] in names:
            members = [ports[u] for u in uuids(bridge["ports"]) if u in ports]
            saved[bridge["name"]] = {
                "datapath_type": bridge["datapath_type"],
                "ports": {p["name"]: _saved_port(p, ifaces) for p in members},
            }
    kinds = {b["datapath_type"] or "system" for b in bridges.values()}
    return {"bridges": saved, "datapath_type": kinds.pop() if len(kinds) == 1 else "system"}


def _saved_port(port: dict, ifaces: dict) -> dict:
    rows = [ifaces[u] for u in uuids(port["interfaces"]) if u in ifaces]
    return {k: port[k] for k in PORT_COLUMNS} | {
        "interfaces": [{k: r[k] for k in IFACE_COLUMNS} for r in rows]
    }


def _is_vm(port: dict) -> bool:
    return any(k in _map(i["external_ids"]) for i in port["interfaces"] for k in VM_KEYS)


# --- the ports a desired bridge asks for ------------------------------------------------------
def wanted_ports(iface: Interface) -> dict[str, dict]:
    """Port name -> its rows (in the checkpoint's form), for the bridge's plain ports, bonds
    (a port of several interfaces: ovs-vsctl add-bond) and internal ports."""
    settings = iface.ovs_bridge
    assert settings is not None
    found = {p: _port(p, [p]) for p in settings.ports}
    found |= {b.name: _port(b.name, b.ports) for b in settings.bonds}
    for internal in settings.internal:
        tag = internal.tag if internal.tag is not None else EMPTY
        found[internal.name] = _port(internal.name, [internal.name], "internal", tag)
    return found


def _port(name: str, members: list[str], kind: str = "", tag: Any = EMPTY) -> dict:
    rows = [{"name": m, "type": kind} for m in members]
    return {"name": name, "tag": tag, "interfaces": rows}


def _shape(port: dict) -> tuple:
    """What tells two ports apart for a change: interfaces, their types, the tag."""
    members = sorted((i["name"], i.get("type") or "") for i in port["interfaces"])
    return tuple(members), _one(port.get("tag", EMPTY))


# --- transactions ---------------------------------------------------------------------------
def _insert_port(bridge: str, port: dict, n: int) -> list[dict]:
    """Insert a port (and its interfaces) and hang it on `bridge` (by name)."""
    ops, refs = [], []
    for i, row in enumerate(port["interfaces"]):
        ops.append({"op": "insert", "table": "Interface", "uuid-name": f"i{n}x{i}", "row": row})
        refs.append(["named-uuid", f"i{n}x{i}"])
    row = {k: v for k, v in port.items() if k != "interfaces"} | {"interfaces": ["set", refs]}
    ops.append({"op": "insert", "table": "Port", "uuid-name": f"p{n}", "row": row})
    added = ["set", [["named-uuid", f"p{n}"]]]
    ops.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                "mutations": [["ports", "insert", added]]})  # fmt: skip
    return ops


def _new_bridge(name: str, datapath: str) -> list[dict]:
    """A bridge with its own internal port, added to the Open_vSwitch row."""
    return [
        {"op": "insert", "table": "Interface", "uuid-name": "bi",
         "row": {"name": name, "type": "internal"}},
        {"op": "insert", "table": "Port", "uuid-name": "bp",
         "row": {"name": name, "interfaces": ["named-uuid", "bi"]}},
        {"op": "insert", "table": "Bridge", "uuid-name": "br",
         "row": {"name": name, "datapath_type": datapath, "ports": ["named-uuid", "bp"]}},
        {"op": "mutate", "table": "Open_vSwitch", "where": [],
         "mutations": [["bridges", "insert", ["set", [["named-uuid", "br"]]]]]},
    ]  # fmt: skip


def _drop_ports(bridge: str, names: set[str], rows: tuple[dict, dict, dict]) -> list[dict]:
    """Take ports off a bridge (OVSDB then drops them and their interfaces: not root rows)."""
    bridges, ports, _ = rows
    row = next(b for b in bridges.values() if b["name"] == bridge)
    gone = [["uuid", u] for u in uuids(row["ports"]) if ports.get(u, {}).get("name") in names]
    if not gone:
        return []
    return [{"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
             "mutations": [["ports", "delete", ["set", gone]]]}]  # fmt: skip


def _commit(endpoint: str, ops: list[dict]) -> None:
    """One transaction, then wait until ovs-vswitchd has carried it out."""
    if not ops:
        return
    bump: list[dict] = [
        {"op": "mutate", "table": "Open_vSwitch", "where": [],
         "mutations": [["next_cfg", "+=", 1]]},
        {"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]},
    ]  # fmt: skip
    try:
        results = _check(transact(endpoint, ops + bump))
    except OvsdbUnavailable as err:
        raise OvsStepFailed(str(err)) from err
    settle(endpoint, results[-1]["rows"][0]["next_cfg"])


def settle(endpoint: str, target: int) -> None:
    deadline = time.monotonic() + SETTLE
    select = {"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["cur_cfg"]}
    while _check(transact(endpoint, [select]))[0]["rows"][0]["cur_cfg"] < target:
        if time.monotonic() > deadline:
            raise OvsStepFailed(f"ovs-vswitchd did not carry the change out in {SETTLE:g} s")
        time.sleep(0.02)


# --- apply, remove ----------------------------------------------------------------------------
def apply_bridge(endpoint: str, iface: Interface, saved: dict[str, Any]) -> None:
    """Make the bridge as asked: new ports inserted, changed ones replaced, ours that are not
    asked for dropped (a VM's port stays); then every interface it asked for opened."""
    rows = _rows(endpoint)
    had = saved["bridges"].get(iface.name)
    want = wanted_ports(iface)
    ops: list[dict] = []
    if had is None:
        settings = iface.ovs_bridge
        datapath = (settings.datapath_type if settings else None) or saved["datapath_type"]
        ops += _new_bridge(iface.name, datapath)
        have: dict[str, dict] = {}
    else:
        have = {n: p for n, p in had["ports"].items() if n != iface.name and not _is_vm(p)}
    stale = {n for n, p in have.items() if n not in want or _shape(p) != _shape(want[n])}
    ops += _drop_ports(iface.name, stale, rows) if had is not None else []
    fresh = [p for n, p in want.items() if n not in have or n in stale]
    for n, port in enumerate(fresh):
        ops += _insert_port(iface.name, port, n)
    _commit(endpoint, ops)
    errors = interface_errors(endpoint, {i["name"] for p in want.values() for i in p["interfaces"]})
    if errors:
        raise OvsStepFailed(f"Open vSwitch bridge {iface.name}: " + "; ".join(errors))


def remove_bridge(endpoint: str, name: str) -> None:
    bridges, _, _ = _rows(endpoint)
    found = [["uuid", u] for u, b in bridges.items() if b["name"] == name]
    if found:
        _commit(endpoint, [{"op": "mutate", "table": "Open_vSwitch", "where": [],
                            "mutations": [["bridges", "delete", ["set", found]]]}])  # fmt: skip


def interface_errors(endpoint: str, names: set[str]) -> list[str]:
    """Interface.error of each named interface that has one (ovs-vsctl would exit 0)."""
    _, _, ifaces = _rows(endpoint)
    return [f"{r['name']}: {_one(r['error'])}" for r in ifaces.values()
            if r["name"] in names and _one(r["error"])]  # fmt: skip


# --- rollback -------------------------------------------------------------------------------
def restore(endpoint: str, saved: dict[str, Any]) -> list[str]:
    """Each touched bridge back as the checkpoint has it: one the change made removed, one
    it removed made again with its ports, a changed one's ports put back; errors, in words
    (each bridge is tried even when one before it failed)."""
    errors = []
    for name, had in saved["bridges"].items():
        try:
            _restore_bridge(endpoint, name, had, saved["datapath_type"])
        except (OvsStepFailed, OvsdbUnavailable) as err:
            errors.append(f"rollback of Open vSwitch bridge {name}: {err}")
    return errors


def _restore_bridge(endpoint: str, name: str, had: dict | None, datapath: str) -> None:
    rows = _rows(endpoint)
    exists = any(b["name"] == name for b in rows[0].values())
    if had is None:
        if exists:
            remove_bridge(endpoint, name)
        return
    if exists:
        now = _ports_now(name, rows)
        differ = {n for n, p in now.items()
                  if n not in had["ports"] or _shape(p) != _shape(had["ports"][n])}  # fmt: skip
        ops = _drop_ports(name, differ, rows)
        back = [p for n, p in had["ports"].items() if n not in now or n in differ]
    else:  # made again: its own port comes with it
        ops = _new_bridge(name, had["datapath_type"] or datapath)
        back = [p for n, p in had["ports"].items() if n != name]
    for n, port in enumerate(back):
        ops += _insert_port(name, port, n)
    _commit(endpoint, ops)


def _ports_now(bridge: str, rows: tuple[dict, dict, dict]) -> dict[str, dict]:
    bridges, ports, ifaces = rows
    row = next(b for b in bridges.values() if b["name"] == bridge)
    found = [ports[u] for u in uuids(row["ports"]) if u in ports]
    return {p["name"]: _saved_port(p, ifaces) for p in found}


# --- verify ---------------------------------------------------------------------------------
def verify(endpoint: str, desired: NetworkState) -> list[str]:
    """Where OVSDB is not as the desired Open vSwitch bridges ask; empty when it is."""
    asked = [i for i in desired.interfaces if i.type == "ovs-bridge"]
    if not asked:
        return []
    rows = _rows(endpoint)
    names = {b["name"] for b in rows[0].values()}
    wrong = []
    for iface in asked:
        there = iface.name in names
        if iface.state == "absent":
            wrong += [f"{iface.name}: still in Open vSwitch, asked absent"] if there else []
        elif not there:
            wrong.append(f"{iface.name}: not in Open vSwitch")
        else:
            wrong += _verify_ports(iface, _ports_now(iface.name, rows))
    names_asked = {m["name"] for i in asked if i.state != "absent"
                   for p in wanted_ports(i).values() for m in p["interfaces"]}  # fmt: skip
    return wrong + interface_errors(endpoint, names_asked)


def _verify_ports(iface: Interface, now: dict[str, dict]) -> list[str]:
    wrong = []
    want = wanted_ports(iface)
    for name, port in want.items():
        have = now.get(name)
        if have is None:
            wrong.append(f"{iface.name}: port {name} missing")
        elif _shape(have) != _shape(port):
            wrong.append(f"{iface.name}: port {name} is {_shape(have)}, asked {_shape(port)}")
    ours = {n for n, p in now.items() if n != iface.name and not _is_vm(p)}
    return wrong + [f"{iface.name}: port {n} not asked for" for n in sorted(ours - set(want))]
