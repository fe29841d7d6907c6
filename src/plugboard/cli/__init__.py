"""The `plugboard` command."""

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from plugboard import __version__

app = typer.Typer(
    name="plugboard",
    help="Wire virtual machines to networks on libvirt/KVM hosts.",
    no_args_is_help=True,
    add_completion=False,
)
stderr = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"plugboard {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Wire virtual machines to networks on libvirt/KVM hosts."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8470,
    libvirt_uri: Annotated[
        str, typer.Option(envvar="PLUGBOARD_LIBVIRT_URI", help="libvirt URI of the local host.")
    ] = "qemu:///system",
) -> None:
    """Run the plugboard service (REST API and web UI)."""
    typer.echo("plugboard service configuration:")
    typer.echo(f"  listen       http://{host}:{port}/api/v1")
    typer.echo(f"  local host   {libvirt_uri}")
    typer.echo(f"  user         uid {os.getuid()}")
    stderr.print(
        "[bold red]error:[/] the plugboard service is not built yet (it comes with the "
        "service issue); nothing was started."
    )
    raise typer.Exit(code=2)


def main() -> None:
    sys.exit(app())
