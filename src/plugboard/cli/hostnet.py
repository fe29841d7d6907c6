"""hostnet-show, hostnet-plan: a host's network configuration (issue 18; applying comes next)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from plugboard.cli.networks import HostOption
from plugboard.cli.output import Format, OutputOption, call, fail, show

MAX_FILE = 1024 * 1024  # a host's whole configuration is a few KiB
COLUMNS = ["name", "type", "state", "mtu", "addresses", "detail"]
STEP_COLUMNS = ["action", "interface", "detail", "reason"]


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors' aliases: a file of nested aliases (a "YAML bomb") would expand
    to gigabytes; a configuration never needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases (*name) are not accepted ({event.start_mark})")
        return super().compose_node(parent, index)


def read_state(path: Path) -> Any:
    """A desired state from a YAML or JSON file (JSON is YAML), or a clear error."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE + 1)
    except OSError as err:
        raise fail(f"cannot read {path}: {err.strerror}") from None
    if len(raw) > MAX_FILE:
        raise fail(f"{path} is larger than {MAX_FILE // 1024} KiB; a host's state is a few KiB")
    try:
        return yaml.load(raw, Loader=_NoAliases)  # a SafeLoader, its aliases refused
    except yaml.YAMLError as err:
        raise fail(f"{path} is not valid YAML or JSON: {err}") from None


def _row(iface: dict) -> dict:
    addresses = [
        a for fam in ("ipv4", "ipv6") for a in ((iface.get(fam) or {}).get("addresses") or [])
    ]
    detail = []
    for key in ("bridge", "bond", "ovs_bridge"):
        if iface.get(key) and iface[key].get("ports"):
            detail.append("ports " + ",".join(iface[key]["ports"]))
    if iface.get("vlan"):
        detail.append(f"vlan {iface['vlan']['id']} on {iface['vlan']['base']}")
    return iface | {"addresses": ", ".join(addresses) or None, "detail": "; ".join(detail) or None}


def hostnet_show(
    ctx: typer.Context, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """The host's configurable interfaces, in the form a change is asked in."""
    found = call(ctx, "GET", f"/hosts/{host}/network-state")
    if output is Format.json:
        show(found, output, [])
        return
    show([_row(i) for i in found["state"]["interfaces"]], output, COLUMNS, drop=["detail"])


def hostnet_plan(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The desired state, YAML or JSON.")],
    host: HostOption = "local",
    output: OutputOption = Format.table,
) -> None:
    """The steps from the host's state to FILE's, with their reasons; nothing changes."""
    planned = call(ctx, "POST", f"/hosts/{host}/network-state/plan", json=read_state(file))
    if output is Format.json:
        show(planned, output, [])
    elif not planned["steps"]:
        typer.echo("nothing to do: the host is as the file asks")
    else:
        show(planned["steps"], output, STEP_COLUMNS, drop=["reason"])


def register(app: typer.Typer) -> None:
    for fn in (hostnet_show, hostnet_plan):
        app.command(fn.__name__.replace("_", "-"))(fn)
