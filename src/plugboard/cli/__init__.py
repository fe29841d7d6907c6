"""The `plugboard` command: the service (`serve`) and a client of its REST API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plugboard import __version__
from plugboard.cli import (
    grants,
    hostnet,
    hosts,
    interfaces,
    netcheck,
    networks,
    profiles,
    service,
    templates,
    tokens,
    users,
    vms,
)
from plugboard.cli.group import Globals, PlugboardGroup, defaults_from_before
from plugboard.cli.output import Format, remember_output

app = typer.Typer(
    name="plugboard",
    help="Wire virtual machines to networks on libvirt/KVM hosts.",
    no_args_is_help=True,
    add_completion=False,
    cls=PlugboardGroup,
    # Plain help, as git's: Typer's boxed help shows every flag as `--dry-run <bool>`.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"plugboard {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            help="URL of the plugboard service (env PLUGBOARD_URL; default: the one `serve` "
            "wrote to ~/.config/plugboard/url, else http://127.0.0.1:8470)."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="API token (env PLUGBOARD_TOKEN; default: ~/.config/plugboard/token)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            envvar="PLUGBOARD_HOST",
            show_envvar=False,
            help="The plugboard host commands act on (env PLUGBOARD_HOST; default: local, the "
            "service's own libvirtd).",
        ),
    ] = None,
    output: Annotated[
        Format | None,
        typer.Option(
            "--output", "-o", help="table or json, for every command.", callback=remember_output
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Wire virtual machines to networks on libvirt/KVM hosts.

    The options here also go after the command (`plugboard net-list --host h1 -o json`)."""
    ctx.obj = Globals(url, token)
    defaults_from_before(ctx, host, output)


for module in (
    service,
    hosts,
    networks,
    hostnet,
    interfaces,
    vms,
    templates,
    profiles,
    netcheck,
    users,
    grants,
    tokens,
):
    module.register(app)


def main() -> None:
    sys.exit(app())
