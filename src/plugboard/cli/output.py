"""Tables for people, JSON for scripts."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from plugboard.cli.client import ClientError
from plugboard.cli.tables import pairs_table, print_records, print_table, rows_table


def stdout() -> Console:
    """A console made when used, so it sees the terminal's width and whether there is one."""
    return Console(highlight=False, emoji=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, emoji=False)


class Format(enum.StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    Format,
    typer.Option("--output", "-o", help="table for people, json for scripts."),
]


def show(
    data: Any,
    fmt: Format,
    columns: Sequence[str],
    title: str | None = None,
    drop: Sequence[str] = (),
) -> None:
    """Print a list of objects (or one object) as a table (see tables: `drop` lists the
    columns a narrow terminal does without, first to last) or as JSON."""
    if fmt is Format.json:
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    console = stdout()
    if isinstance(data, dict):
        print_table(console, *pairs_table(console, data, columns, title))
        return
    table, need = rows_table(console, data, columns, drop, title)
    if console.is_terminal and need > console.width:
        print_records(console, data, columns, title)
    else:
        print_table(console, table, need)


def call(ctx: typer.Context, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the service; on a problem, its detail on stderr and exit 1."""
    try:
        return ctx.obj().request(method, path, **kwargs)
    except ClientError as err:
        raise fail(err.detail, err.code) from None


def fail(detail: str, code: str | None = None) -> typer.Exit:
    stderr().print(
        f"[bold red]error:[/] {escape(detail)}" + (f" [dim]({escape(code)})[/]" if code else ""),
        soft_wrap=True,
    )
    return typer.Exit(code=1)
