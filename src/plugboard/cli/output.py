"""Tables for people, JSON for scripts; errors as text, or as the problem document with -o json."""

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


def remember_output(ctx: typer.Context, value: Format | None) -> Format | None:
    """-o's callback: errors are reported as it says (ctx.meta is shared by all contexts)."""
    if value is not None:
        ctx.meta["output"] = Format(value)
    return value


OutputOption = Annotated[
    Format,
    typer.Option(
        "--output", "-o", help="table for people, json for scripts.", callback=remember_output
    ),
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
    """One request to the service; a problem is reported on stderr, and the exit code is 1."""
    try:
        return ctx.obj.client().request(method, path, **kwargs)
    except ClientError as err:
        raise fail(err.detail, err.code, err.problem) from None


def fail(detail: str, code: str | None = None, problem: dict | None = None) -> Failure:
    """The error to raise; the command group reports it (see Failure)."""
    return Failure(detail, code, problem)


class Failure(typer.Exit):
    """An error to report on stderr with exit code 1: text for people; with -o json, the
    service's problem document, or one like it for the CLI's own errors."""

    def __init__(self, detail: str, code: str | None = None, problem: dict | None = None) -> None:
        super().__init__(code=1)
        self.detail, self.code, self.problem = detail, code, problem

    def report(self, output: Format | None) -> None:
        if output is Format.json:
            document = self.problem or {"title": "plugboard CLI error", "detail": self.detail}
            typer.echo(json.dumps(document), err=True)
            return
        code = f" [dim]({escape(self.code)})[/]" if self.code else ""
        stderr().print(f"[bold red]error:[/] {escape(self.detail)}{code}", soft_wrap=True)
