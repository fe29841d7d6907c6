"""`plugboard net-check FILE...`: check network XML offline, as libvirt would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from plugboard.cli.output import stderr
from plugboard.netxml import NetworkXMLError, format_network, network_to_json, parse_network


def net_check(
    files: Annotated[list[Path], typer.Argument(help="Network XML files ('-' reads stdin).")],
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing; exit 0 or 1.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON form.")] = False,
) -> None:
    """Check network XML files as libvirt would; print the canonical XML (or JSON) of each
    valid one and the errors of the others (exit 1)."""
    failed = False
    for path in files:
        name = "<stdin>" if str(path) == "-" else str(path)
        try:
            text = typer.get_text_stream("stdin").read() if name == "<stdin>" else path.read_bytes()
            net = parse_network(text)
        except OSError as err:
            failed = True
            stderr().print(f"{name}: cannot read: {err.strerror}", highlight=False)
            continue
        except NetworkXMLError as err:
            failed = True
            stderr().print(f"{name}: {err}", highlight=False, soft_wrap=True)
            continue
        if quiet:
            continue
        if as_json:
            typer.echo(json.dumps(network_to_json(net), indent=2))
        else:
            typer.echo(format_network(net), nl=False)
    if failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("net-check")(net_check)
