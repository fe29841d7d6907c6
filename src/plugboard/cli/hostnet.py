"""hostnet-show, hostnet-plan, hostnet-apply, hostnet-confirm: a host's network configuration
(issue 18). An applied change waits for a confirmation; meanwhile hostnet-apply counts the
seconds down and asks whether to keep it (or hostnet-confirm keeps it from elsewhere)."""

from __future__ import annotations

import select
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from plugboard.cli.networks import HostOption
from plugboard.cli.output import Format, OutputOption, call, fail, show
from plugboard.cli.progress import waiting

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
    _printed(call(ctx, "POST", f"/hosts/{host}/network-state/plan", json=read_state(file)), output)


def _printed(planned: dict, output: Format) -> None:
    if output is Format.json:
        show(planned, output, [])
    else:
        _show_steps(planned["steps"], output)


def _show_steps(steps: list[dict], output: Format) -> None:
    if not steps:
        typer.echo("nothing to do: the host is as the file asks")
    else:
        show(steps, output, STEP_COLUMNS, drop=["reason"])


def hostnet_apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The desired state, YAML or JSON.")],
    host: HostOption = "local",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    rollback_timeout: Annotated[
        float, typer.Option(help="Seconds the host waits for a confirmation, then rolls back.")
    ] = 60.0,
    probe: Annotated[
        list[str] | None,
        typer.Option(
            help="An address that must answer from the host (repeatable): the host "
            "keeps the change by itself when all do."
        ),
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """Apply FILE's state to the host. The change is kept only when confirmed in time (here,
    or with hostnet-confirm); otherwise the host rolls it back by itself. With -o json, print
    the change and return at once."""
    body = read_state(file)
    if not isinstance(body, dict):
        raise fail(f"{file} must hold a mapping (interfaces:, routes:)")
    body |= {"rollback_timeout": rollback_timeout, "probes": probe or []}
    path = f"/hosts/{host}/network-state"
    if dry_run:
        _printed(call(ctx, "POST", path, params={"dry_run": "true"}, json=body), output)
        return
    change = call(ctx, "POST", path, json=body)
    if output is Format.json:
        show(change, output, [])
        return
    _show_steps(change["steps"], output)
    if change["state"] == "waiting":
        change = _until_kept(ctx, host, change)
    _report(change)
    return


def _until_kept(ctx: typer.Context, host: str, change: dict) -> dict:
    """Ask whether to keep the change (on a terminal), with the seconds left; else, or when
    not kept, follow it until the host has confirmed or rolled it back."""
    left = change["deadline"] - time.time()
    if sys.stdin.isatty():
        typer.echo(f"keep this change? [y/N] (the host rolls it back in {left:.0f} s)")
        with waiting("waiting for your answer", left):
            answer = _answer(left)
        if answer in ("y", "yes"):
            return call(ctx, "POST", f"/hosts/{host}/network-state/confirm")
    url = f"/hosts/{host}/network-state/changes/{change['id']}"
    with waiting("waiting for a confirmation (hostnet-confirm) or the rollback", left):
        while change["state"] in ("applying", "waiting"):
            time.sleep(0.25)
            change = call(ctx, "GET", url)
    return change


def _answer(seconds: float) -> str:
    """A line from the terminal within `seconds`, lower case ("" when none came)."""
    ready, _, _ = select.select([sys.stdin], [], [], max(seconds, 0))
    return sys.stdin.readline().strip().lower() if ready else ""


def _report(change: dict) -> None:
    if change["state"] == "confirmed":
        typer.echo(f"change {change['id']} kept (confirmed by {change.get('confirmed_by')})")
        _warn(change)
        return
    raise fail(f"change {change['id']} {change['state']}: {change.get('reason')}; the host is "
               "as it was before", "CHANGE_ROLLED_BACK")  # fmt: skip


def hostnet_confirm(
    ctx: typer.Context, host: HostOption = "local", output: OutputOption = Format.table
) -> None:
    """Keep the host's change that waits for its confirmation."""
    change = call(ctx, "POST", f"/hosts/{host}/network-state/confirm")
    if output is Format.json:
        show(change, output, [])
    else:
        typer.echo(f"change {change['id']} kept")
        _warn(change)


def _warn(change: dict) -> None:
    """Where the host wrote the change, and what it could not do (on stderr)."""
    if change.get("persisted"):
        typer.echo(f"written to {change['persisted']} on the host")
    for warning in change.get("warnings") or []:
        typer.echo(f"warning: {warning}", err=True)


def register(app: typer.Typer) -> None:
    for fn in (hostnet_show, hostnet_plan, hostnet_apply, hostnet_confirm):
        app.command(fn.__name__.replace("_", "-"))(fn)
