"""Options in any order, as git and kubectl users expect: --url, --token, --host and -o are
taken before the command and after it; and errors printed in one place, as text or as JSON."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from plugboard.cli.client import Client
from plugboard.cli.output import Failure, Format

# Given after the command, these count as if given before it.
AFTER_TOO = ("url", "token")


@dataclass
class Globals:
    """The options given before the command (or, for --url and --token, after it)."""

    url: str | None = None
    token: str | None = None

    def client(self) -> Client:
        return Client.configured(self.url, self.token)


def defaults_from_before(ctx: typer.Context, host: str | None, output: Format | None) -> None:
    """--host and -o given before the command are its defaults (click's default_map), so the
    command's own, given after it, win."""
    given = {k: v for k, v in (("host", host), ("output", output)) if v is not None}
    if ctx.invoked_subcommand is not None:
        ctx.default_map = {ctx.invoked_subcommand: given}


def _store_in_globals(ctx: typer.Context, param: Any, value: str | None) -> None:
    if value is not None:
        setattr(ctx.obj, param.name, value)


class PlugboardGroup(TyperGroup):
    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # ctx: Typer's click.Context
        command = super().get_command(ctx, cmd_name)
        if command is not None and not any(p.name in AFTER_TOO for p in command.params):
            command.params += [_after(p) for p in self.params if p.name in AFTER_TOO]
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Failure as failure:
            failure.report(ctx.meta.get("output"))
            raise typer.Exit(code=1) from None


def _after(param: Any) -> Any:
    """The group's option, for a command: its value goes to the Globals."""
    twin = copy.copy(param)
    twin.expose_value = False
    twin.callback = _store_in_globals
    return twin
