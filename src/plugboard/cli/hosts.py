"""host-list, host-add, host-info, host-set, host-remove."""

from __future__ import annotations

from typing import Annotated

import typer

from plugboard.cli.output import Format, OutputOption, call, show
from plugboard.hosts.model import DomainType

COLUMNS = ["name", "uri", "state", "domain_type", "libvirt_version", "hypervisor_version", "error"]
DROP = ["hypervisor_version", "libvirt_version", "domain_type"]
INFO = [
    "name",
    "uri",
    "state",
    "error",
    "hostname",
    "libvirt_version",
    "hypervisor",
    "hypervisor_version",
    "domain_type",
    "domain_type_setting",
]


def host_list(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List the hosts plugboard manages and their connection state."""
    show(call(ctx, "GET", "/hosts"), output, COLUMNS, drop=DROP)


def host_info(ctx: typer.Context, name: str, output: OutputOption = Format.table) -> None:
    """Show one host (connecting to it if it is not connected yet)."""
    show(call(ctx, "GET", f"/hosts/{name}"), output, INFO)


def host_add(
    ctx: typer.Context,
    name: str,
    uri: Annotated[str, typer.Argument(help="libvirt URI, e.g. qemu+ssh://root@h1/system")],
    domain_type: Annotated[DomainType, typer.Option(help="kvm, qemu (TCG) or auto.")] = "auto",
    output: OutputOption = Format.table,
) -> None:
    """Register a libvirt host."""
    show(
        call(ctx, "POST", "/hosts", json={"name": name, "uri": uri, "domain_type": domain_type}),
        output,
        INFO,
    )


def host_set(
    ctx: typer.Context,
    name: str,
    uri: Annotated[str | None, typer.Option(help="A new libvirt URI.")] = None,
    domain_type: Annotated[DomainType | None, typer.Option(help="kvm, qemu (TCG) or auto.")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Change a host's URI or domain type."""
    body = {k: v for k, v in (("uri", uri), ("domain_type", domain_type)) if v is not None}
    show(call(ctx, "PATCH", f"/hosts/{name}", json=body), output, INFO)


def host_remove(ctx: typer.Context, name: str) -> None:
    """Forget a host (nothing on the host changes)."""
    call(ctx, "DELETE", f"/hosts/{name}")
    typer.echo(f"host {name} removed")


def register(app: typer.Typer) -> None:
    for fn in (host_list, host_info, host_add, host_set, host_remove):
        app.command(fn.__name__.replace("_", "-"))(fn)
