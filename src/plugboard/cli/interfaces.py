"""iface-list: a host's network interfaces."""

from __future__ import annotations

from typing import Annotated

import typer

from plugboard.cli.networks import HostOption
from plugboard.cli.output import Format, OutputOption, call, show, stdout
from plugboard.hostnet.model import TYPES

COLUMNS = ["name", "type", "state", "mac", "mtu", "addresses", "master", "detail", "used_by"]
DROP = ["mtu", "master", "state", "detail", "used_by"]


def _detail(iface: dict) -> str | None:
    parts = []
    if iface["ports"]:
        parts.append("ports " + ",".join(iface["ports"]))
    if iface["parent"]:
        parts.append(f"on {iface['parent']}")
    if iface["vlan_id"] is not None:
        parts.append(f"vlan {iface['vlan_id']}")
    if iface["mode"]:
        parts.append(f"mode {iface['mode']}")
    ovs = iface["ovs"] or {}
    if ovs.get("tag") is not None:
        parts.append(f"tag {ovs['tag']}")
    if ovs.get("trunks"):
        parts.append("trunks " + ",".join(map(str, ovs["trunks"])))
    if ovs.get("error"):
        parts.append(f"error: {ovs['error']}")
    return "; ".join(parts) or None


def _row(iface: dict) -> dict:
    return iface | {
        "detail": _detail(iface),
        "used_by": ", ".join(f"{u['kind']} {u['name']}" for u in iface["used_by"]) or None,
    }


def iface_list(
    ctx: typer.Context,
    host: HostOption = "local",
    type: Annotated[  # the API's name for it (Typer takes no list of Literal values)
        list[str] | None, typer.Option(help=f"Only this type (repeatable): {', '.join(TYPES)}.")
    ] = None,
    source: Annotated[str, typer.Option(help="auto, host (netlink + OVSDB) or libvirt.")] = "auto",
    output: OutputOption = Format.table,
) -> None:
    """List the host's network interfaces: NICs, bonds, bridges, VLANs, macvtaps, OVS bridges."""
    found = call(
        ctx, "GET", f"/hosts/{host}/interfaces", params={"type": type or [], "source": source}
    )
    if output is Format.json:
        show(found, output, COLUMNS)
        return
    show([_row(i) for i in found["interfaces"]], output, COLUMNS, drop=DROP)
    stdout().print(f"source: {found['source']}")
    for gap in found["cannot_see"]:
        stdout().print(f"cannot see: {gap}")


def register(app: typer.Typer) -> None:
    app.command("iface-list")(iface_list)
