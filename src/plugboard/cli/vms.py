"""vm-list, vm-create, vm-start, vm-shutdown, vm-destroy, vm-delete; nic-list, nic-add, nic-set,
nic-remove, nic-mirror; macpool-show, macpool-set."""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Annotated, Any, Literal

import typer

from plugboard.cli.networks import HostOption
from plugboard.cli.output import (
    Failure,
    Format,
    OutputOption,
    call,
    fail,
    show,
    stderr,
    stdout,
)
from plugboard.cli.progress import waiting
from plugboard.hosts.model import DomainType
from plugboard.netxml.model import MacvtapMode
from plugboard.vnic.model import DEFAULT_MACVTAP_MODE, VnicModel

VM_COLUMNS = ["name", "state", "domain_type", "memory_mib", "vcpus", "persistent", "autostart"]
VNIC_COLUMNS = [
    "name",
    "mac",
    "model",
    "source",
    "profile",
    "plugged",
    "linked",
    "active",
    "target_dev",
    "pci_address",
    "ips",
    "etag",
]
# What a narrow terminal does without, first to last; the rest wrap (MACs, IPs and PCI
# addresses never: see tables.WHOLE).
VNIC_DROP = ["profile", "target_dev", "model", "active", "etag", "linked", "plugged", "pci_address"]
VM_DROP = ["autostart", "persistent", "domain_type", "vcpus", "memory_mib"]


Link = Literal["up", "down"]

MemoryOpt = Annotated[int | None, typer.Option(help="MiB (default 256).")]
VcpusOpt = Annotated[int | None, typer.Option(help="Default 1.")]
KernelOpt = Annotated[str | None, typer.Option(help="Kernel path on the host.")]
DiskOpt = Annotated[str | None, typer.Option(help="Disk image path on the host.")]
DomainTypeOpt = Annotated[DomainType | None, typer.Option(help="kvm, qemu (TCG) or auto.")]
SlotsOpt = Annotated[
    int | None,
    typer.Option(help="Free PCI slots for vNICs hot-plugged later (default 8, or the template's)."),
]


def _vms(host: str, vm: str = "") -> str:
    return f"/hosts/{host}/vms" + (f"/{vm}" if vm else "")


def _source_text(source: dict | None) -> str:
    if source is None:
        return "(no network)"
    kind = source["type"]
    if kind == "network":
        port = f"/{source['portgroup']}" if source.get("portgroup") else ""
        return f"network {source['network']}{port}"
    if kind == "macvtap":
        return f"macvtap {source['dev']} ({source['mode']})"
    if kind == "ovs" and source.get("vlan") is not None:
        return f"ovs {source['bridge']} vlan {source['vlan']}"
    if kind == "ovs" and source.get("trunk"):
        return f"ovs {source['bridge']} trunk {','.join(map(str, source['trunk']))}"
    return f"{kind} {source.get('bridge')}"


def _vnic_rows(vnics: list[dict]) -> list[dict]:
    return [v | {"source": _source_text(v["source"])} for v in vnics]


# --- VMs -------------------------------------------------------------------------------------
def vm_list(
    ctx: typer.Context, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """List every VM on the host (also those made with virsh)."""
    show(call(ctx, "GET", _vms(host)), output, VM_COLUMNS, drop=VM_DROP)


def vm_create(
    ctx: typer.Context,
    name: str,
    host: HostOption = "local",
    template: Annotated[
        str | None, typer.Option(help="Make it from this template (see template-list).")
    ] = None,
    memory: MemoryOpt = None,
    vcpus: VcpusOpt = None,
    kernel: KernelOpt = None,
    initrd: str | None = None,
    cmdline: str | None = None,
    disk: DiskOpt = None,
    network: Annotated[
        list[str] | None, typer.Option(help="One vNIC on this network (repeatable).")
    ] = None,
    domain_type: DomainTypeOpt = None,
    hotplug_slots: SlotsOpt = None,
    start: Annotated[bool, typer.Option("--start", help="Start it too.")] = False,
    output: OutputOption = Format.table,
) -> None:
    """Create a VM: boot from a kernel (and initrd) or a disk image, or from a template."""
    boot = {"kernel": kernel, "initrd": initrd, "cmdline": cmdline, "disk": disk}
    body = {
        "name": name,
        "template": template,
        "memory_mib": memory,
        "vcpus": vcpus,
        "domain_type": domain_type,
        "boot": boot if any(boot.values()) else None,
        "nics": [{"source": {"type": "network", "network": n}} for n in network or []],
        "hotplug_slots": hotplug_slots,
    }
    made = call(ctx, "POST", _vms(host), json=body, params={"start": start})
    if output is Format.json:
        show(made, output, [])
        return
    show(made, output, VM_COLUMNS)
    show(_vnic_rows(made["nics"]), output, VNIC_COLUMNS, title="vNICs", drop=VNIC_DROP)


def _vm_action(action: str, help_text: str):
    def run(
        ctx: typer.Context,
        name: str,
        host: HostOption = "local",
        output: OutputOption = Format.table,
    ) -> None:
        show(call(ctx, "POST", _vms(host, name) + f"/{action}"), output, VM_COLUMNS)

    run.__doc__ = help_text
    run.__name__ = f"vm_{action}"
    return run


vm_start = _vm_action("start", "Start a VM (its vNICs as their plugged/linked state says).")
vm_destroy = _vm_action("destroy", "Power a VM off now.")


def vm_shutdown(
    ctx: typer.Context,
    name: str,
    host: HostOption = "local",
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the VM is shut off.")] = False,
    timeout: Annotated[float, typer.Option(min=0, help="--wait: seconds before giving up.")] = 60.0,
    output: OutputOption = Format.table,
) -> None:
    """Ask the guest to power off (ACPI power button); --wait waits until it has."""
    vm = call(ctx, "POST", _vms(host, name) + "/shutdown")
    if output is Format.table:
        then = "" if wait else "; --wait waits until it is shut off"
        stdout().print(f"shutdown of {name} requested (ACPI power button){then}")
    if wait and vm["state"] != "shut-off":
        vm = _wait_until_shut_off(ctx, host, name, timeout)
    show(vm, output, VM_COLUMNS)


def _wait_until_shut_off(ctx: typer.Context, host: str, name: str, timeout: float) -> dict:
    """The VM once it is shut off, read every half second, with a spinner; an error after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with waiting(f"waiting for {name} to power off", timeout):
        while (vm := _vm_summary(ctx, host, name))["state"] != "shut-off":
            if time.monotonic() >= deadline:
                raise fail(
                    f"{name} did not power off within {timeout:g} s (it is {vm['state']}; the "
                    f"guest may ignore ACPI): `plugboard vm-destroy {name}` powers it off now",
                    "SHUTDOWN_TIMEOUT",
                )
            time.sleep(0.5)
    return vm


def _vm_summary(ctx: typer.Context, host: str, name: str) -> dict:
    """The VM as the listing has it; a transient VM that powered off is gone from libvirt."""
    try:
        vm = call(ctx, "GET", _vms(host, name))
    except Failure as failure:
        if failure.code != "VM_NOT_FOUND":
            raise
        return {"name": name, "state": "shut-off"}
    return {k: v for k, v in vm.items() if k != "nics"}


def vm_set(
    ctx: typer.Context,
    name: str,
    hotplug_slots: Annotated[
        int, typer.Option(help="At least this many free PCI slots for hot-plugged vNICs.")
    ],
    host: HostOption = "local",
    output: OutputOption = Format.table,
) -> None:
    """Change a VM: its free PCI slots (a running VM gets them at its next start)."""
    vm = call(ctx, "PATCH", _vms(host, name), json={"hotplug_slots": hotplug_slots})
    show(vm, output, VM_COLUMNS)
    if output is not Format.json and vm["state"] == "running":
        stdout().print(
            f"{vm['hotplug_slots_at_start']} free PCI slots from its next start "
            f"({vm['hotplug_slots_free']} now: a running VM cannot get more)"
        )


def vm_delete(
    ctx: typer.Context,
    name: str,
    host: HostOption = "local",
    force: Annotated[bool, typer.Option("--force", help="Power off a running VM first.")] = False,
) -> None:
    """Delete a VM (its definition; disk images stay)."""
    call(ctx, "DELETE", _vms(host, name), params={"force": force})
    stdout().print(f"VM {name} deleted")


# --- vNICs -----------------------------------------------------------------------------------
def nic_list(
    ctx: typer.Context, vm: str, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """List a VM's vNICs, plugged and unplugged."""
    found = call(ctx, "GET", _vms(host, vm) + "/nics")
    show(
        found if output is Format.json else _vnic_rows(found), output, VNIC_COLUMNS, drop=VNIC_DROP
    )


def _source(
    network: str | None,
    portgroup: str | None,
    bridge: str | None,
    macvtap: str | None,
    mode: MacvtapMode | None,
    ovs: str | None = None,
    vlan: int | None = None,
    trunk: str | None = None,
    direct: str | None = None,
) -> dict | None:
    if direct is not None:
        stderr().print("note: --direct is deprecated; it is now called --macvtap", highlight=False)
        macvtap = macvtap or direct
    given = [x for x in (network, bridge, macvtap, ovs) if x is not None]
    if len(given) > 1:
        raise fail("give one of --network, --bridge, --macvtap, --ovs")
    if (vlan is not None or trunk is not None) and ovs is None:
        raise fail("--vlan and --trunk go with --ovs")
    if network is not None:
        return {"type": "network", "network": network, "portgroup": portgroup}
    if bridge is not None:
        return {"type": "bridge", "bridge": bridge}
    if macvtap is not None:
        return {"type": "macvtap", "dev": macvtap, "mode": mode or DEFAULT_MACVTAP_MODE}
    if ovs is not None:
        return {"type": "ovs", "bridge": ovs, "vlan": vlan, "trunk": _tags(trunk)}
    return None


def _tags(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(tag) for tag in text.split(",")]
    except ValueError:
        raise fail(f"--trunk takes tags separated by commas, as in 100,200; not '{text}'") from None


NetworkOpt = Annotated[str | None, typer.Option(help="A libvirt network of the host.")]
PortgroupOpt = Annotated[str | None, typer.Option(help="A port group of --network.")]
BridgeOpt = Annotated[str | None, typer.Option(help="A host bridge.")]
MacvtapOpt = Annotated[str | None, typer.Option(help="A host interface: a macvtap on it.")]
DirectOpt = Annotated[str | None, typer.Option(hidden=True, help="Deprecated: --macvtap.")]
ModeOpt = Annotated[
    MacvtapMode | None, typer.Option(help=f"--macvtap's mode (default {DEFAULT_MACVTAP_MODE}).")
]
OvsOpt = Annotated[str | None, typer.Option(help="An Open vSwitch bridge of the host.")]
VlanOpt = Annotated[int | None, typer.Option(help="--ovs: an access port with this VLAN tag.")]
TrunkOpt = Annotated[str | None, typer.Option(help="--ovs: a trunk of these tags (100,200).")]
MacOpt = Annotated[str | None, typer.Option(help="aa:bb:cc:dd:ee:ff (default: from the pool).")]
ProfileOpt = Annotated[
    str | None, typer.Option(help="Wire it through this vNIC profile (`plugboard profile-list`).")
]


def _show_change(change: dict, output: Format) -> None:
    if output is Format.json:
        show(change, output, [])
        return
    for action in change["plan"]:
        slot = "same PCI slot" if action["keeps_pci_address"] else "new PCI slot"
        said = "slot" in action["reason"] or action["kind"] not in ("plug", "unplug")
        suffix = "" if said else f" ({slot})"
        stdout().print(f"{action['kind']}: {action['reason']}{suffix}", highlight=False)
    if not change["applied"]:
        stdout().print("nothing changed")
    for note in change.get("notes", []):
        stdout().print(f"note: {note}", highlight=False)
    if change["vnic"] is not None:
        show(_vnic_rows([change["vnic"]])[0], output, VNIC_COLUMNS)


def nic_add(
    ctx: typer.Context,
    vm: str,
    host: HostOption = "local",
    name: Annotated[str | None, typer.Option(help="Default: nic1, nic2, ...")] = None,
    network: NetworkOpt = None,
    portgroup: PortgroupOpt = None,
    bridge: BridgeOpt = None,
    macvtap: MacvtapOpt = None,
    mode: ModeOpt = None,
    ovs: OvsOpt = None,
    vlan: VlanOpt = None,
    trunk: TrunkOpt = None,
    model: Annotated[VnicModel, typer.Option(help="The card's model.")] = "virtio",
    mac: MacOpt = None,
    unplugged: Annotated[bool, typer.Option("--unplugged", help="Add it unplugged.")] = False,
    unlinked: Annotated[bool, typer.Option("--unlinked", help="Add it without its cable.")] = False,
    direct: DirectOpt = None,
    profile: ProfileOpt = None,
    output: OutputOption = Format.table,
) -> None:
    """Add a vNIC (hot-plugged into a running VM unless --unplugged; no source: no network)."""
    source = _source(network, portgroup, bridge, macvtap, mode, ovs, vlan, trunk, direct)
    body: dict[str, Any] = {
        "name": name,
        "mac": mac,
        "model": model,
        "plugged": not unplugged,
        "linked": not unlinked,
    }
    if profile is not None and source is not None:
        raise fail("--profile sets the vNIC's source: give it or a source, not both")
    body |= {"profile": profile} if profile is not None else {"source": source}
    _show_change(call(ctx, "POST", _vms(host, vm) + "/nics", json=body), output)


def nic_set(
    ctx: typer.Context,
    vm: str,
    nic: str,
    host: HostOption = "local",
    network: NetworkOpt = None,
    portgroup: PortgroupOpt = None,
    bridge: BridgeOpt = None,
    macvtap: MacvtapOpt = None,
    mode: ModeOpt = None,
    ovs: OvsOpt = None,
    vlan: VlanOpt = None,
    trunk: TrunkOpt = None,
    no_network: Annotated[
        bool, typer.Option("--no-network", help="Take it off any network.")
    ] = False,
    link: Annotated[Link | None, typer.Option(help="Cable in (up) or out (down).")] = None,
    plug: Annotated[
        bool | None, typer.Option("--plug/--unplug", help="Plug the card in or out.")
    ] = None,
    mac: Annotated[str | None, typer.Option(help="A new MAC (the card is re-plugged).")] = None,
    model: Annotated[
        VnicModel | None, typer.Option(help="A new model (the card is re-plugged).")
    ] = None,
    if_match: Annotated[str | None, typer.Option(help="Only if its ETag is still this.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing.")
    ] = False,
    direct: DirectOpt = None,
    profile: ProfileOpt = None,
    output: OutputOption = Format.table,
) -> None:
    """Change a vNIC: re-wire, link, plug, MAC, model — live on a running VM. --vlan or
    --trunk alone re-tag the vNIC's Open vSwitch port (no need to repeat --ovs)."""
    body: dict[str, Any] = {}
    if profile is not None:
        body["profile"] = profile
    elif not any(x is not None for x in (network, bridge, macvtap, ovs, direct)):
        body["vlan"], vlan, trunk = _vlans(vlan, trunk), None, None
    source = _source(network, portgroup, bridge, macvtap, mode, ovs, vlan, trunk, direct)
    if source is not None and no_network:
        raise fail("--no-network and a source exclude each other")
    if profile is not None and (source is not None or no_network):
        raise fail("--profile sets the vNIC's source: give it or a source, not both")
    if source is not None or no_network:
        body["source"] = source
    if link is not None:
        body["linked"] = link == "up"
    given = {"plugged": plug, "mac": mac, "model": model}
    body = {k: v for k, v in (body | given).items() if v is not None or k == "source"}
    if not body:
        raise fail("nothing to change: give --network, --profile, --link, --plug/--unplug, ...")
    headers = {"If-Match": _entity_tag(if_match)} if if_match else {}
    path = _vms(host, vm) + f"/nics/{nic}"
    message = f"{nic} of {vm}: a hot-unplug waits for the guest"
    with nullcontext() if dry_run else waiting(message, _unplug_wait()):
        change = call(ctx, "PATCH", path, json=body, params={"dry_run": dry_run}, headers=headers)
    _show_change(change, output)


MIRROR_COLUMNS = ["vm", "nic", "port_mirroring", "mirror_of", "applied", "notes"]


def nic_mirror(
    ctx: typer.Context,
    vm: str,
    nic: str,
    host: HostOption = "local",
    on: Annotated[
        bool | None,
        typer.Option("--on/--off", help="Switch mirroring on (the whole network) or off."),
    ] = None,
    of: Annotated[
        list[str] | None,
        typer.Option("--of", help="Mirror only this vNIC, as VM/NIC (repeat for more)."),
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """Show or switch a vNIC's port mirroring, live (no unplug): --on copies every frame of
    its network to it, --of VM/NIC only those vNICs' (on any network of the host), --off
    stops it."""
    path = _vms(host, vm) + f"/nics/{nic}/mirroring"
    if on is False and of:
        raise fail("--off and --of exclude each other")
    if on is None and not of:
        show(call(ctx, "GET", path), output, MIRROR_COLUMNS)
        return
    body = {"port_mirroring": bool(on) and not of, "mirror_of": of or []}
    show(call(ctx, "PUT", path, json=body), output, MIRROR_COLUMNS)


def _unplug_wait() -> float:
    """The service's PLUGBOARD_HOTUNPLUG_TIMEOUT, for the seconds a spinner counts down (the
    CLI usually runs where the service does; else the service's default, 30 s)."""
    try:
        return float(os.environ.get("PLUGBOARD_HOTUNPLUG_TIMEOUT") or 30)
    except ValueError:
        return 30.0


def _vlans(vlan: int | None, trunk: str | None) -> dict | None:
    """--vlan or --trunk without a source: the VLANs of the vNIC's Open vSwitch port."""
    if vlan is not None and trunk is not None:
        raise fail("give --vlan (an access port) or --trunk, not both")
    if vlan is not None:
        return {"tags": [vlan], "trunk": False}
    return {"tags": _tags(trunk), "trunk": True} if trunk is not None else None


def _entity_tag(value: str) -> str:
    """An ETag as HTTP wants it (quoted), also when given as the table shows it or without
    its quotes (a shell eats them)."""
    if value == "*" or value.startswith(('"', 'W/"')):
        return value
    return f'"{value}"'


def nic_remove(ctx: typer.Context, vm: str, nic: str, host: HostOption = "local") -> None:
    """Remove a vNIC (the VM is stopped, or the vNIC is unplugged)."""
    call(ctx, "DELETE", _vms(host, vm) + f"/nics/{nic}")
    stdout().print(f"vNIC {nic} removed from {vm}")


# --- the MAC pool ----------------------------------------------------------------------------
POOL_COLUMNS = ["name", "ranges", "allow_duplicates", "size"]


def macpool_show(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """Show the MAC pool new vNICs take their MACs from."""
    show(call(ctx, "GET", "/macpool"), output, POOL_COLUMNS)


def macpool_set(
    ctx: typer.Context,
    ranges: Annotated[list[str], typer.Argument(help="FROM-TO MAC ranges.")],
    allow_duplicates: Annotated[
        bool, typer.Option("--allow-duplicates", help="Let two vNICs share a MAC.")
    ] = False,
    output: OutputOption = Format.table,
) -> None:
    """Set the MAC pool's ranges."""
    body = {"ranges": ranges, "allow_duplicates": allow_duplicates}
    show(call(ctx, "PUT", "/macpool", json=body), output, POOL_COLUMNS)


def register(app: typer.Typer) -> None:
    for fn in (
        vm_list,
        vm_create,
        vm_start,
        vm_shutdown,
        vm_destroy,
        vm_set,
        vm_delete,
        nic_list,
        nic_add,
        nic_set,
        nic_remove,
        nic_mirror,
        macpool_show,
        macpool_set,
    ):
        app.command(fn.__name__.replace("_", "-"))(fn)
