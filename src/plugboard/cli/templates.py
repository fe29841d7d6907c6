"""template-list, template-show, template-create, template-update, template-delete."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from plugboard.cli.output import Format, OutputOption, call, fail, show, stdout
from plugboard.cli.vms import (
    DiskOpt,
    DomainTypeOpt,
    KernelOpt,
    MemoryOpt,
    ModeOpt,
    SlotsOpt,
    VcpusOpt,
)
from plugboard.vnic.model import VnicModel

COLUMNS = ["name", "memory_mib", "vcpus", "boot", "networks", "interfaces", "nic_model"]
Names = Annotated[list[str] | None, typer.Option()]


def _interfaces_text(interfaces: list[dict]) -> str | None:
    parts = []
    for iface in interfaces:
        mode = f" ({iface['mode']})" if iface.get("mode") else ""
        parts.append(f"{iface['type']} {','.join(iface['source'])}{mode}")
    return "; ".join(parts) or None


def _row(template: dict) -> dict:
    boot = template["boot"]
    return template | {
        "boot": boot.get("disk") or boot.get("kernel"),
        "networks": ", ".join(template["networks"]) or None,
        "interfaces": _interfaces_text(template["interfaces"]),
    }


def _show(found: Any, output: Format) -> None:
    if output is Format.json:
        show(found, output, COLUMNS)
    elif isinstance(found, list):
        show([_row(t) for t in found], output, COLUMNS, drop=["nic_model", "vcpus", "memory_mib"])
    else:
        show(_row(found), output, COLUMNS)


def _names(values: list[str] | None) -> list[list[str]]:
    """--macvtap eth0,eth1 --macvtap eth2: one interface entry per option."""
    return [[n for n in v.split(",") if n] for v in values or []]


def template_list(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List the VM templates."""
    _show(call(ctx, "GET", "/templates"), output)


def template_show(ctx: typer.Context, name: str, output: OutputOption = Format.table) -> None:
    """Show one template."""
    _show(call(ctx, "GET", f"/templates/{name}"), output)


def _body(current: dict, **given: Any) -> dict:
    """The template as `current` with the options that were given."""
    body = {k: v for k, v in current.items() if k not in ("created_at", "updated_at")}
    boot = dict(body.get("boot") or {})
    for key in ("kernel", "initrd", "cmdline", "disk"):
        if given[key] is not None:
            boot[key] = given[key]
    body["boot"] = boot
    for key in ("memory_mib", "vcpus", "domain_type", "nic_model", "hotplug_slots"):
        if given[key] is not None:
            body[key] = given[key]
    if given["network"] is not None:
        body["networks"] = [n for n in given["network"] if n]
    entries = [
        {"type": "macvtap", "source": names, "mode": given["mode"]}
        for names in _names(given["macvtap"])
    ]
    entries += [{"type": "ovs", "source": names} for names in _names(given["ovs"])]
    entries += [{"type": "bridge", "source": names} for names in _names(given["bridge"])]
    if given["mode"] is not None and not given["macvtap"]:
        raise fail("--mode goes with --macvtap")
    if entries or given["no_interfaces"]:
        body["interfaces"] = entries
    return body


def _command(update: bool):
    def run(
        ctx: typer.Context,
        name: str,
        memory: MemoryOpt = None,
        vcpus: VcpusOpt = None,
        kernel: KernelOpt = None,
        initrd: str | None = None,
        cmdline: str | None = None,
        disk: DiskOpt = None,
        network: Annotated[
            list[str] | None,
            typer.Option(help="A libvirt network: one vNIC on it (repeatable; '' for none)."),
        ] = None,
        macvtap: Annotated[
            list[str] | None,
            typer.Option(help="Host interfaces for macvtap vNICs, as eth0,eth1 (repeatable)."),
        ] = None,
        mode: ModeOpt = None,
        ovs: Annotated[
            list[str] | None, typer.Option(help="Open vSwitch bridges, one vNIC each.")
        ] = None,
        bridge: Annotated[
            list[str] | None, typer.Option(help="Linux bridges, one vNIC each.")
        ] = None,
        no_interfaces: Annotated[
            bool, typer.Option("--no-interfaces", help="No direct interfaces.")
        ] = False,
        model: Annotated[VnicModel | None, typer.Option(help="The vNICs' model (virtio).")] = None,
        domain_type: DomainTypeOpt = None,
        hotplug_slots: SlotsOpt = None,
        output: OutputOption = Format.table,
    ) -> None:
        given = locals() | {"memory_mib": memory, "nic_model": model}
        if update:
            body = _body(call(ctx, "GET", f"/templates/{name}"), **given)
            _show(call(ctx, "PUT", f"/templates/{name}", json=body), output)
        else:
            body = _body({"name": name}, **given)
            _show(call(ctx, "POST", "/templates", json=body), output)

    run.__name__ = "template_update" if update else "template_create"
    run.__doc__ = (
        "Change a template: the options given replace what it has."
        if update
        else "Create a template: size, boot, libvirt networks and direct interfaces."
    )
    return run


template_create = _command(update=False)
template_update = _command(update=True)


def template_delete(ctx: typer.Context, name: str) -> None:
    """Delete a template (VMs made from it stay as they are)."""
    call(ctx, "DELETE", f"/templates/{name}")
    stdout().print(f"template {name} deleted")


def register(app: typer.Typer) -> None:
    for fn in (template_list, template_show, template_create, template_update, template_delete):
        app.command(fn.__name__.replace("_", "-"))(fn)
