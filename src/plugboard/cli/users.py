"""user-list, user-add, user-passwd, user-disable, user-enable, user-remove."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plugboard.cli.output import Format, OutputOption, call, fail, show
from plugboard.engine.roles import Role

COLUMNS = ["username", "role", "enabled", "has_password", "tokens", "created_at"]

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin (for scripts) instead of asking.",
    ),
]


def user_list(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List users (never their passwords)."""
    show(call(ctx, "GET", "/users"), output, COLUMNS, drop=["created_at", "has_password"])


def user_add(
    ctx: typer.Context,
    name: str,
    role: Annotated[Role, typer.Option(help="What they may do.")] = "user",
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="No password: they use tokens only (token-create)."),
    ] = False,
    output: OutputOption = Format.table,
) -> None:
    """Add a user; asks for their password twice (not shown as it is typed)."""
    body: dict[str, str] = {"username": name, "role": role}
    if not no_password:
        body["password"] = _password(password_stdin)
    show(call(ctx, "POST", "/users", json=body), output, COLUMNS)


def user_passwd(ctx: typer.Context, name: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; asks for it twice (not shown as it is typed)."""
    call(ctx, "PATCH", f"/users/{name}", json={"password": _password(password_stdin)})
    typer.echo(f"password of {name} set")


def user_disable(ctx: typer.Context, name: str) -> None:
    """Disable a user: their tokens and web sessions are refused from the next request."""
    call(ctx, "PATCH", f"/users/{name}", json={"enabled": False})
    typer.echo(f"user {name} disabled")


def user_enable(ctx: typer.Context, name: str) -> None:
    """Enable a disabled user again."""
    call(ctx, "PATCH", f"/users/{name}", json={"enabled": True})
    typer.echo(f"user {name} enabled")


def user_remove(ctx: typer.Context, name: str) -> None:
    """Remove a user and their tokens (the audit log keeps what they did)."""
    call(ctx, "DELETE", f"/users/{name}")
    typer.echo(f"user {name} removed")


def _password(from_stdin: bool) -> str:
    """The password: stdin's first line, or asked twice on the terminal, never echoed."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise fail("no password given; give one, or use --no-password (user-add)")
    return password


def register(app: typer.Typer) -> None:
    for fn in (user_list, user_add, user_passwd, user_disable, user_enable, user_remove):
        app.command(fn.__name__.replace("_", "-"))(fn)
