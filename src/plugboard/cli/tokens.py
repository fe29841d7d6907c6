"""token-list, token-create, token-revoke; admin-token, on the service's machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.engine import URL, make_url

from plugboard.cli.output import Format, OutputOption, call, fail, show
from plugboard.engine.roles import Role
from plugboard.settings import Settings

if TYPE_CHECKING:
    from plugboard.store import Store

COLUMNS = ["name", "role", "user", "created_at", "last_used_at", "revoked_at"]


def token_list(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List API tokens (never their secrets)."""
    show(call(ctx, "GET", "/tokens"), output, COLUMNS, drop=["last_used_at", "created_at"])


def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A name for the token.")],
    role: Annotated[Role, typer.Option(help="What it may do (never more than its user).")] = "user",
    user: Annotated[
        str | None, typer.Option("--user", help="Whose token it is (default: yours).")
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """Create an API token and print its secret (shown this once)."""
    body = {"name": name, "role": role} | ({"user": user} if user else {})
    created = call(ctx, "POST", "/tokens", json=body)
    if output is Format.json:
        show(created, output, [])
    else:
        typer.echo(created["token"])


def token_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke an API token."""
    call(ctx, "DELETE", f"/tokens/{name}")
    typer.echo(f"token {name} revoked")


def admin_token(
    reset: Annotated[
        bool, typer.Option("--reset", help="Make a new admin token; write it to the token file.")
    ] = False,
    output: OutputOption = Format.table,
) -> None:
    """Show the admin tokens and the token file; --reset makes a new admin token and writes
    it there, for when no admin token's secret is at hand. Reads the store itself, not the
    API (the service may run): run it on the service's machine as the service's user (root),
    with the service's settings (PLUGBOARD_DATABASE_URL, PLUGBOARD_CONFIG_DIR, config file)."""
    settings = Settings()
    created, admins = _admin_tokens(settings, reset)
    report = {"created": created, "token_file": str(settings.token_file), "admin_tokens": admins}
    if output is Format.json:
        show(report, output, [])
    elif created:
        typer.echo(f"new admin token {created} written to {settings.token_file} (mode 0600)")
    else:
        shown = report | {"admin_tokens": ", ".join(admins) or "none"}
        show(shown, output, ["token_file", "admin_tokens"])
        typer.echo("Locked out? `plugboard admin-token --reset` makes a new admin token.")


def _admin_tokens(settings: Settings, reset: bool) -> tuple[str | None, list[str]]:
    """The new admin token's name (with `reset`), and the admin tokens not revoked."""
    # The store's imports (SQLAlchemy's ORM, alembic) would only slow the client commands.
    from plugboard.engine import tokens  # noqa: PLC0415

    store = _open_store(settings)
    try:
        with store.session() as db:
            created = tokens.reset_admin_token(db, settings.token_file).name if reset else None
            admins = list(db.scalars(tokens.active_admins()))
    finally:
        store.dispose()
    return created, admins


def _open_store(settings: Settings) -> Store:
    """The service's store, opened beside the running service. Never `claim`ed: the service
    holds a SQLite store's claim, and one more writer of a row or two is what SQLite's WAL
    and busy timeout are for. Never created or migrated either: that is the service's."""
    from plugboard.store import Store  # noqa: PLC0415

    url = make_url(settings.database_url.get_secret_value())
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise _no_store(url)
    store = Store(settings.database_url.get_secret_value())
    if "tokens" not in store.tables():
        store.dispose()
        raise _no_store(url)
    return store


def _no_store(url: URL) -> typer.Exit:
    return fail(
        f"no plugboard store at {url.render_as_string(hide_password=True)}; check the "
        "settings (PLUGBOARD_DATABASE_URL), or start the service: it makes an admin token"
    )


def register(app: typer.Typer) -> None:
    for fn in (token_list, token_create, token_revoke, admin_token):
        app.command(fn.__name__.replace("_", "-"))(fn)
