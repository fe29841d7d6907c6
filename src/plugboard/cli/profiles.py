"""profile-list, profile-show, profile-create, profile-update, profile-delete: vNIC profiles.
A vNIC is wired through one with `nic-set VM NIC --profile NAME` (or `nic-add --profile`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from plugboard.cli.output import Format, OutputOption, call, fail, show, stdout
from plugboard.cli.vms import (
    BridgeOpt,
    MacvtapOpt,
    ModeOpt,
    NetworkOpt,
    OvsOpt,
    PortgroupOpt,
    TrunkOpt,
    VlanOpt,
    _source,
    _source_text,
)

COLUMNS = ["name", "source", "qos", "port_mirroring", "filter", "description"]
OUTCOME_COLUMNS = ["vm", "vnic", "host", "outcome", "plan", "pci_address", "error"]
LIMITS = {
    "inbound": ("average", "peak", "burst", "floor"),
    "outbound": ("average", "peak", "burst"),
}

InboundOpt = Annotated[
    str | None, typer.Option(help="QoS in: AVERAGE[,PEAK[,BURST[,FLOOR]]] (kB/s, kB).")
]
OutboundOpt = Annotated[str | None, typer.Option(help="QoS out: AVERAGE[,PEAK[,BURST]].")]
MirroringOpt = Annotated[
    bool | None,
    typer.Option("--mirroring/--no-mirroring", help="Its vNICs get a copy of their network."),
]
FilterOpt = Annotated[str | None, typer.Option(help="A libvirt nwfilter (clean-traffic, ...).")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--filter-param", help="KEY=VALUE of --filter (repeatable).")
]
DescriptionOpt = Annotated[str | None, typer.Option(help="What the profile is for.")]


def _qos_text(bandwidth: dict | None) -> str | None:
    if not bandwidth:
        return None
    parts = []
    for direction in ("inbound", "outbound"):
        if bandwidth.get(direction):
            limits = bandwidth[direction]
            parts.append(f"{direction[:-5]} " + "/".join(str(v) for v in limits.values() if v))
    return ", ".join(parts)


def _row(profile: dict) -> dict:
    nwfilter = profile.get("filter")
    return profile | {
        "source": _source_text(profile["source"]),
        "qos": _qos_text(profile.get("bandwidth")),
        "filter": nwfilter["name"] if nwfilter else None,
    }


def _show(found: Any, output: Format) -> None:
    if output is Format.json:
        show(found, output, COLUMNS)
    elif isinstance(found, list):
        show([_row(p) for p in found], output, COLUMNS, drop=["description", "filter"])
    else:
        show(_row(found), output, COLUMNS)


def profile_list(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List the vNIC profiles."""
    _show(call(ctx, "GET", "/profiles"), output)


def profile_show(ctx: typer.Context, name: str, output: OutputOption = Format.table) -> None:
    """Show one vNIC profile."""
    _show(call(ctx, "GET", f"/profiles/{name}"), output)


def _limits(text: str | None, direction: str) -> dict[str, int] | None:
    if text is None:
        return None
    names = LIMITS[direction]
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise fail(f"--{direction} takes numbers separated by commas, not '{text}'") from None
    if len(values) > len(names):
        raise fail(f"--{direction} takes at most {len(names)} numbers: {', '.join(names)}")
    return dict(zip(names, values, strict=False))


def _params(pairs: list[str] | None) -> dict[str, str]:
    found = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--filter-param takes KEY=VALUE, as IP=10.0.0.5; not '{pair}'")
        found[key] = value
    return found


def _body(current: dict, **given: Any) -> dict:
    """The profile as `current`, with the options given in place of what it has."""
    body = {k: v for k, v in current.items() if k not in ("created_at", "updated_at", "name")}
    source = _source(
        given["network"], given["portgroup"], given["bridge"], given["macvtap"], given["mode"],
        given["ovs"], given["vlan"], given["trunk"],
    )  # fmt: skip
    if source is not None:
        body["source"] = source
        body["vlan"] = None  # an OVS source carries its own VLANs
    if "source" not in body:
        raise fail("a profile needs a source: --network, --bridge, --ovs or --macvtap")
    bandwidth = dict(body.get("bandwidth") or {})
    for direction in LIMITS:
        limits = _limits(given[direction], direction)
        if limits is not None:
            bandwidth[direction] = limits
    body["bandwidth"] = bandwidth or None
    if given["mirroring"] is not None:
        body["port_mirroring"] = given["mirroring"]
    if given["filter"] is not None:
        body["filter"] = {"name": given["filter"], "parameters": _params(given["filter_param"])}
    elif given["filter_param"]:
        raise fail("--filter-param goes with --filter")
    if given["description"] is not None:
        body["description"] = given["description"]
    return body


def _outcomes(change: dict, output: Format) -> None:
    if output is Format.json:
        show(change, output, [])
        return
    rows = [
        o | {"plan": ", ".join(o["plan"]), "error": (o["error"] or {}).get("detail")}
        for o in change["vnics"]
    ]
    if rows:
        show(rows, output, OUTCOME_COLUMNS, drop=["host", "pci_address"])
    done = "planned" if not change["applied"] else "brought to the profile"
    stdout().print(
        f"{len(rows)} vNICs wired through {change['profile']['name']}: {done}, "
        f"{change['failed']} failed" + ("" if change["applied"] else "; nothing changed"),
        highlight=False,
    )
    for host in change["unchecked_hosts"]:
        stdout().print(f"note: host {host} could not be reached; ask again when it is back")
    if change["failed"]:
        raise typer.Exit(1)


def _command(update: bool):
    def run(
        ctx: typer.Context,
        name: str,
        network: NetworkOpt = None,
        portgroup: PortgroupOpt = None,
        bridge: BridgeOpt = None,
        macvtap: MacvtapOpt = None,
        mode: ModeOpt = None,
        ovs: OvsOpt = None,
        vlan: VlanOpt = None,
        trunk: TrunkOpt = None,
        inbound: InboundOpt = None,
        outbound: OutboundOpt = None,
        mirroring: MirroringOpt = None,
        filter: FilterOpt = None,
        filter_param: ParamOpt = None,
        description: DescriptionOpt = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Update: each vNIC's plan; change nothing.")
        ] = False,
        output: OutputOption = Format.table,
    ) -> None:
        given = locals()
        if update:
            body = _body(call(ctx, "GET", f"/profiles/{name}"), **given)
            params = {"dry_run": dry_run}
            _outcomes(call(ctx, "PUT", f"/profiles/{name}", json=body, params=params), output)
        elif dry_run:
            raise fail("--dry-run goes with profile-update (a new profile changes no vNIC)")
        else:
            _show(call(ctx, "POST", "/profiles", json={"name": name} | _body({}, **given)), output)

    run.__name__ = "profile_update" if update else "profile_create"
    run.__doc__ = (
        "Change a profile, and every vNIC wired through it, live (the options given replace "
        "what it has)."
        if update
        else "Create a vNIC profile: a source, QoS, port mirroring and a network filter."
    )
    return run


profile_create = _command(update=False)
profile_update = _command(update=True)


def profile_delete(ctx: typer.Context, name: str) -> None:
    """Delete a vNIC profile (refused while vNICs are wired through it)."""
    call(ctx, "DELETE", f"/profiles/{name}")
    stdout().print(f"profile {name} deleted")


def register(app: typer.Typer) -> None:
    for fn in (profile_list, profile_show, profile_create, profile_update, profile_delete):
        app.command(fn.__name__.replace("_", "-"))(fn)
