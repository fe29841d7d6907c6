"""The `plugboard` command: the service (`serve`) and a client of its REST API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plugboard import __version__
from plugboard.cli import (
    hosts,
    interfaces,
    netcheck,
    networks,
    service,
    templates,
    tokens,
    vms,
)
from plugboard.cli.client import Client

app = typer.Typer(
    name="plugboard",
    help="Wire virtual machines to networks on libvirt/KVM hosts.",
    no_args_is_help=True,
    add_completion=False,
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
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Wire virtual machines to networks on libvirt/KVM hosts."""
    ctx.obj = lambda: Client.configured(url, token)


for module in (service, hosts, networks, interfaces, vms, templates, netcheck, tokens):
    module.register(app)


def main() -> None:
    sys.exit(app())
