"""Tables for people, JSON for scripts."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from plugboard.cli.client import ClientError

stdout = Console()
stderr = Console(stderr=True)


class Format(enum.StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    Format, typer.Option("--output", "-o", help="table for people, json for scripts.")
]


def show(data: Any, fmt: Format, columns: Sequence[str], title: str | None = None) -> None:
    """Print a list of objects (or one object) as a table or as JSON."""
    if fmt is Format.json:
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    if isinstance(data, dict):
        table = Table(show_header=False, box=None, title=title)
        for column in columns:
            table.add_row(column, _cell(data.get(column)))
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in data:
            table.add_row(*(_cell(row.get(column)) for column in columns))
    stdout.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def call(ctx: typer.Context, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the service; on a problem, its detail on stderr and exit 1."""
    try:
        return ctx.obj().request(method, path, **kwargs)
    except ClientError as err:
        raise fail(err.detail, err.code) from None


def fail(detail: str, code: str | None = None) -> typer.Exit:
    stderr.print(
        f"[bold red]error:[/] {detail}" + (f" [dim]({code})[/]" if code else ""),
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code=1)
