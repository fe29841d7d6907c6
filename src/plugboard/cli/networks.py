"""net-list, net-define, net-dumpxml, net-start, net-stop, net-autostart, net-undefine,
net-update, net-leases: virsh's verbs, through the plugboard service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from plugboard.cli.output import Format, OutputOption, call, fail, show

HostOption = Annotated[
    str,
    typer.Option(
        "--host", help="The plugboard host (see host-list); default: PLUGBOARD_HOST, else local."
    ),
]
COLUMNS = [
    "name",
    "active",
    "autostart",
    "persistent",
    "forward_mode",
    "bridge",
    "subnets",
    "connections",
]
DROP = ["persistent", "autostart", "connections", "forward_mode"]
LEASES = ["mac", "ip", "prefix", "hostname", "vm", "vnic", "expiry"]
CHANGE = ["name", "active", "autostart", "persistent", "applied", "notes"]


def _path(host: str, name: str = "") -> str:
    return f"/hosts/{host}/networks" + (f"/{name}" if name else "")


def net_list(
    ctx: typer.Context, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """List the host's virtual networks."""
    show(call(ctx, "GET", _path(host)), output, COLUMNS, drop=DROP)


def net_define(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="libvirt network XML, or its JSON form")],
    host: HostOption = "local",
    start: Annotated[bool, typer.Option("--start", help="Start it too.")] = False,
    autostart: Annotated[bool, typer.Option("--autostart", help="Start it with the host.")] = False,
    output: OutputOption = Format.table,
) -> None:
    """Define a network from an XML or JSON file."""
    try:
        text = file.read_text()
    except OSError as err:
        raise fail(f"cannot read {file}: {err.strerror}") from None
    is_json = text.lstrip().startswith("{")
    body = (
        {"json": json.loads(text)}
        if is_json
        else {"content": text, "headers": {"Content-Type": "application/xml"}}
    )
    params = {"start": start, "autostart": autostart}
    show(call(ctx, "POST", _path(host), params=params, **body), output, CHANGE)


def net_dumpxml(ctx: typer.Context, name: str, host: HostOption = "local") -> None:
    """Print a network's XML, as libvirt has it."""
    typer.echo(call(ctx, "GET", _path(host, name), headers={"Accept": "application/xml"}), nl=False)


def net_start(
    ctx: typer.Context, name: str, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """Start a network."""
    show(call(ctx, "POST", _path(host, name) + "/start"), output, CHANGE)


def net_stop(
    ctx: typer.Context, name: str, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """Stop a network (guests on it lose their link to it)."""
    show(call(ctx, "POST", _path(host, name) + "/stop"), output, CHANGE)


def net_autostart(
    ctx: typer.Context,
    name: str,
    host: HostOption = "local",
    disable: Annotated[bool, typer.Option("--disable", help="Do not start with the host.")] = False,
    output: OutputOption = Format.table,
) -> None:
    """Start a network with its host (or not, with --disable)."""
    show(call(ctx, "PATCH", _path(host, name), json={"autostart": not disable}), output, CHANGE)


def net_undefine(
    ctx: typer.Context,
    name: str,
    host: HostOption = "local",
    force: Annotated[bool, typer.Option("--force", help="Even if VMs' vNICs use it.")] = False,
) -> None:
    """Stop and undefine a network."""
    call(ctx, "DELETE", _path(host, name), params={"force": force})
    typer.echo(f"network {name} undefined")


def net_update(
    ctx: typer.Context,
    name: str,
    command: Annotated[str, typer.Argument(help="add-first, add-last, modify or delete")],
    section: Annotated[str, typer.Argument(help="ip-dhcp-host, ip-dhcp-range, dns-host, ...")],
    xml: Annotated[str, typer.Argument(help="The element, e.g. \"<host mac='...' ip='...'/>\"")],
    host: HostOption = "local",
    parent_index: Annotated[int, typer.Option(help="Which <ip>; -1: the usual one")] = -1,
    output: OutputOption = Format.table,
) -> None:
    """Change one section of a network, live and persistent."""
    body = {"command": command, "section": section, "xml": xml, "parent_index": parent_index}
    show(call(ctx, "POST", _path(host, name) + "/updates", json=body), output, CHANGE)


def net_leases(
    ctx: typer.Context, name: str, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """DHCP leases of a network, with the VM and vNIC of each."""
    leases = call(ctx, "GET", _path(host, name) + "/leases")
    show(leases, output, LEASES, drop=["expiry", "prefix", "hostname"])


def register(app: typer.Typer) -> None:
    for fn in (
        net_list,
        net_define,
        net_dumpxml,
        net_start,
        net_stop,
        net_autostart,
        net_undefine,
        net_update,
        net_leases,
    ):
        app.command(fn.__name__.replace("_", "-"))(fn)
