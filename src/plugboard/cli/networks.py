"""net-list, net-define, net-edit, net-dumpxml, net-start, net-stop, net-autostart,
net-undefine, net-update, net-leases: virsh's verbs, through the plugboard service; and
net-rewire, the bulk re-wire of every vNIC on a network."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from plugboard.cli.client import ClientError
from plugboard.cli.output import Format, OutputOption, call, fail, show
from plugboard.cli.progress import bar
from plugboard.netxml import NetworkXMLError, parse_network

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
LEASES = ["mac", "ip", "prefix", "hostname", "vm", "vnic", "vnic_now_on", "expiry"]
CHANGE = ["name", "active", "autostart", "persistent", "applied", "notes", "etag"]
XML = "application/xml"


def _path(host: str, name: str = "") -> str:
    return f"/hosts/{host}/networks" + (f"/{name}" if name else "")


def net_list(
    ctx: typer.Context, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """List the host's virtual networks."""
    show(call(ctx, "GET", _path(host)), output, COLUMNS, drop=DROP)


def _body(text: str) -> dict[str, Any]:
    """The request's body: the JSON form as JSON, else libvirt XML as XML."""
    if text.lstrip().startswith("{"):
        return {"json": json.loads(text)}
    return {"content": text, "headers": {"Content-Type": XML}}


def _name_in(text: str) -> str:
    try:
        name = json.loads(text)["name"] if text.lstrip().startswith("{") else None
        return name or parse_network(text).name or ""
    except (ValueError, KeyError, TypeError, NetworkXMLError) as err:
        raise fail(f"no network name in the file: {err}") from None


def net_define(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="libvirt network XML, or its JSON form")],
    host: HostOption = "local",
    start: Annotated[bool, typer.Option("--start", help="Start it too.")] = False,
    autostart: Annotated[bool, typer.Option("--autostart", help="Start it with the host.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Redefine the network of that name (as net-edit).")
    ] = False,
    if_match: Annotated[
        str | None, typer.Option(help="With --replace: only if its ETag is still this.")
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """Define a network from an XML or JSON file (or, with --replace, redefine it)."""
    try:
        text = file.read_text()
    except OSError as err:
        raise fail(f"cannot read {file}: {err.strerror}") from None
    if replace:
        show(_redefine(ctx, host, _name_in(text), text, if_match), output, CHANGE)
        return
    params = {"start": start, "autostart": autostart}
    show(call(ctx, "POST", _path(host), params=params, **_body(text)), output, CHANGE)


def _redefine(ctx: typer.Context, host: str, name: str, text: str, etag: str | None) -> Any:
    """PUT the definition; with If-Match when an ETag is given (412 when it is stale)."""
    body = _body(text)
    if etag:
        body.setdefault("headers", {})["If-Match"] = (
            etag if etag.startswith(('"', "W/")) else f'"{etag}"'
        )
    return call(ctx, "PUT", _path(host, name), **body)


def net_edit(
    ctx: typer.Context, name: str, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """Edit a network's XML in $EDITOR and redefine it, unless someone changed it meanwhile."""
    # The ETag first, then the XML: if the network changes in between, the ETag is the older,
    # and the PUT is refused (412) rather than overwriting the other change.
    etag = call(ctx, "GET", _path(host, name))["etag"]
    xml = call(ctx, "GET", _path(host, name), params={"inactive": True}, headers={"Accept": XML})
    edited = _edit(name, xml)
    if edited == xml:
        typer.echo(f"network {name} XML not changed")
        return
    try:
        show(_redefine(ctx, host, name, edited, etag), output, CHANGE)
    except typer.Exit:
        kept = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".xml")[1])
        kept.write_text(edited)
        typer.echo(f"your edit is kept in {kept} (net-define --replace {kept})", err=True)
        raise


def _edit(name: str, xml: str) -> str:
    """The text after $VISUAL or $EDITOR (else vi) has edited it, as virsh edit runs them."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="plugboard-") as directory:
        path = Path(directory) / f"{name}.xml"
        path.write_text(xml)
        done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        if done.returncode != 0:
            raise fail(f"{editor} exited with {done.returncode}; the network is not changed")
        return path.read_text()


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
    show(leases, output, LEASES, drop=["expiry", "prefix", "hostname", "vnic_now_on"])


RESULTS = ["vm", "vnic", "outcome", "network", "plan", "slot", "lease_ip", "error"]


def net_rewire(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM", help="The network the vNICs are on")],
    target: Annotated[str, typer.Argument(metavar="TO", help="The network they go to")],
    host: HostOption = "local",
    vm: Annotated[
        list[str] | None, typer.Option("--vm", help="Only this VM's vNICs (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plans.")] = False,
    verify: Annotated[
        str | None,
        typer.Option(help="lease: wait for each re-wired running guest's lease on TO."),
    ] = None,
    verify_timeout: Annotated[float, typer.Option(help="Seconds to wait for the leases.")] = 60.0,
    output: OutputOption = Format.table,
) -> None:
    """Move every vNIC on network FROM (of the VMs --vm, else of every VM) to network TO,
    the VMs in parallel, each VM rolled back alone if one of its vNICs fails."""
    if verify not in (None, "lease"):
        raise fail(f"--verify takes 'lease', not '{verify}'")
    body = {"from": source, "to": target, "vms": vm or None, "dry_run": dry_run,
            "verify": verify, "verify_timeout": verify_timeout}  # fmt: skip
    op = call(ctx, "POST", f"/hosts/{host}/rewire", json=body)
    if op["state"] != "finished":
        op = _follow(ctx, op, f"{source} → {target}")
    if output is Format.json:
        show(op, output, [])
    else:
        show([_row(r) for r in op["results"]], output, RESULTS, drop=["plan", "slot", "network"])
        verb = "planned" if dry_run else "re-wired"
        typer.echo(f"{op['total'] - op['failed']}/{op['total']} vNICs {verb} from {source} to "
                   f"{target}, {op['failed']} failed (operation {op['id']})")  # fmt: skip
    if op["failed"]:
        how = "could not be planned" if dry_run else "were not re-wired"
        raise fail(f"{op['failed']} of {op['total']} vNICs {how} (see the errors)")


def _follow(ctx: typer.Context, op: dict[str, Any], what: str) -> dict[str, Any]:
    """The operation until it is finished, with a progress bar: its event stream, or, if that
    breaks off, a look every half second."""
    path = f"/operations/{op['id']}"
    with bar(f"re-wiring {what}", op["total"]) as progress:
        try:
            for _, now in ctx.obj.client().events(path + "/events"):
                op = now
                progress.show(op["done"], op["failed"])
        except ClientError:
            pass
        while op["state"] != "finished":
            time.sleep(0.5)
            op = call(ctx, "GET", path)
            progress.show(op["done"], op["failed"])
    return op


def _row(result: dict[str, Any]) -> dict[str, Any]:
    error = result["error"]
    return result | {
        "plan": " + ".join(result["plan"]),
        "error": f"{error['code']}: {error['detail']}" if error else None,
    }


def register(app: typer.Typer) -> None:
    for fn in (
        net_list,
        net_define,
        net_edit,
        net_dumpxml,
        net_start,
        net_stop,
        net_autostart,
        net_undefine,
        net_update,
        net_leases,
        net_rewire,
    ):
        app.command(fn.__name__.replace("_", "-"))(fn)
