"""`plugboard serve` and `plugboard events`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.padding import Padding

from plugboard.cli.output import Format, OutputOption, call, show, stdout
from plugboard.settings import Settings


def serve(
    listen_host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on (env PLUGBOARD_LISTEN_HOST; 127.0.0.1)."),
    ] = None,
    listen_port: Annotated[
        int | None,
        typer.Option("--port", help="Port to listen on (env PLUGBOARD_LISTEN_PORT; 8470)."),
    ] = None,
) -> None:
    """Run the plugboard service (REST API) in the foreground."""
    # The service's imports (FastAPI, SQLAlchemy, ...) would only slow the client commands.
    from plugboard.service import run  # noqa: PLC0415

    overrides: dict[str, Any] = {"listen_host": listen_host, "listen_port": listen_port}
    run(Settings(**{k: v for k, v in overrides.items() if v is not None}))


def events(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option(help="Only this target and below, e.g. hosts/local.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    output: OutputOption = Format.table,
) -> None:
    """Show the audit log, newest first."""
    params = {"limit": limit, "offset": offset} | ({"target": target} if target else {})
    page = call(ctx, "GET", "/events", params=params)
    if output is Format.json:
        show(page, output, [])
        return
    rows = [_event_row(e) for e in page["items"]]
    title = f"{len(page['items'])} of {page['total']} events"
    console = stdout()
    if not console.is_terminal:  # plain columns, one line each, for grep and awk
        show(rows, output, EVENT_COLUMNS, title=title)
        return
    # For people: each event on a line, and what it did below it, wrapped to the terminal.
    console.print(title, style="bold")
    for row in rows:
        head = f"{row['at']}  {row['actor']}  {row['result']}  {row['duration_ms']} ms  "
        console.print(head + row["target"], style="bold" if row["result"] in _FINE else "red")
        console.print(Padding(row["detail"] or row["action"], (0, 0, 0, 4)))


EVENT_COLUMNS = ["at", "actor", "action", "target", "result", "duration_ms", "detail"]
_FINE = {"ok", "dry-run", "completed"}


def _event_row(event: dict) -> dict:
    """An event for a table: its time to the second in the local time zone, the duration to
    0.1 ms (-o json has them exact)."""
    at = datetime.fromisoformat(event["at"]).astimezone()
    return event | {
        "at": at.strftime("%Y-%m-%d %H:%M:%S"),
        "duration_ms": f"{event['duration_ms']:.1f}",
    }


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(events)
