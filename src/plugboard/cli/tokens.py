"""token-list, token-create, token-revoke."""

from __future__ import annotations

from typing import Annotated

import typer

from plugboard.cli.output import Format, OutputOption, call, show
from plugboard.engine.roles import Role

COLUMNS = ["name", "role", "created_at", "last_used_at", "revoked_at"]


def token_list(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List API tokens (never their secrets)."""
    show(call(ctx, "GET", "/tokens"), output, COLUMNS)


def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A name for the token.")],
    role: Annotated[Role, typer.Option(help="What it may do.")] = "user",
    output: OutputOption = Format.table,
) -> None:
    """Create an API token and print its secret (shown this once)."""
    created = call(ctx, "POST", "/tokens", json={"name": name, "role": role})
    if output is Format.json:
        show(created, output, [])
    else:
        typer.echo(created["token"])


def token_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke an API token."""
    call(ctx, "DELETE", f"/tokens/{name}")
    typer.echo(f"token {name} revoked")


def register(app: typer.Typer) -> None:
    for fn in (token_list, token_create, token_revoke):
        app.command(fn.__name__.replace("_", "-"))(fn)
