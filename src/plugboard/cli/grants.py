"""grant, revoke, grant-list: a user's role on a host, a VM or a network."""

from __future__ import annotations

from typing import Annotated

import typer

from plugboard.cli.output import Format, OutputOption, call, fail, show
from plugboard.engine.policy import GrantRole

COLUMNS = ["id", "user", "role", "object", "created_at"]
OBJECT_HELP = (
    "hosts/HOST (host-admin), hosts/HOST/vms/VM (vm-operator, vm-viewer) or "
    "hosts/HOST/networks/NETWORK (network-user)"
)


def grant(
    ctx: typer.Context,
    user: str,
    role: GrantRole,
    object: Annotated[str, typer.Argument(help=OBJECT_HELP)],
    output: OutputOption = Format.table,
) -> None:
    """Grant USER the ROLE on OBJECT: network-user (wire vNICs to the network), vm-viewer,
    vm-operator (start, stop and change its vNICs) or host-admin (everything on the host)."""
    body = {"user": user, "role": role, "object": object}
    show(call(ctx, "POST", "/grants", json=body), output, COLUMNS)


def revoke(
    ctx: typer.Context,
    user: str,
    role: GrantRole,
    object: Annotated[str, typer.Argument(help=OBJECT_HELP)],
) -> None:
    """Take back USER's ROLE on OBJECT (from their next request)."""
    held = call(ctx, "GET", "/grants", params={"user": user, "object": object})
    found = [g for g in held if g["role"] == role and g["object"] == object]
    if not found:
        raise fail(
            f"{user} holds no {role} on {object}; `plugboard grant-list {user}` shows theirs"
        )
    call(ctx, "DELETE", f"/grants/{found[0]['id']}")
    typer.echo(f"{role} on {object} revoked from {user}")


def grant_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Argument(help="Only this user's grants.")] = None,
    object: Annotated[
        str | None, typer.Option("--object", help="Only on this object and below it.")
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """List grants (an admin sees all; a user, their own)."""
    params = {k: v for k, v in (("user", user), ("object", object)) if v}
    show(call(ctx, "GET", "/grants", params=params), output, COLUMNS, drop=["created_at"])


def register(app: typer.Typer) -> None:
    for fn in (grant, revoke, grant_list):
        app.command(fn.__name__.replace("_", "-"))(fn)
