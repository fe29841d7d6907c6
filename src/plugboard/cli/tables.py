"""Tables that fit the terminal. Values a person copies whole (MACs, IPs, PCI addresses,
URIs, ETags) are never wrapped or cut: a table too wide for the terminal drops its less
important columns, then wraps the others. When stdout is not a terminal, a table is plain
columns at its full width, as virsh prints them: no box, no colour, nothing cut."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

WHOLE = frozenset(
    {"mac", "ip", "ips", "pci_address", "uri", "addresses", "subnets", "etag", "ranges", "at"}
)
WRAP_MIN = 10  # the narrowest a column that wraps is made before columns are dropped


def print_table(console: Console, table: Table, need: int) -> None:
    """At the terminal's width if the table needs no more; else at the width it needs (the
    terminal wraps the longer lines; nothing is cut). Not on a terminal: at its natural width,
    each line without trailing blanks."""
    if console.is_terminal and need <= console.width:
        console.print(table)
        return
    width = need if console.is_terminal else _natural_width(console, table)
    wider = Console(
        width=max(width, 1),
        force_terminal=console.is_terminal,
        color_system=console.color_system,  # type: ignore[arg-type]  # a name it gave
        highlight=False,
        emoji=False,
    )
    with wider.capture() as captured:
        wider.print(table)
    console.file.write("".join(line.rstrip(" ") + "\n" for line in captured.get().splitlines()))


def print_records(
    console: Console, rows: list[dict], columns: Sequence[str], title: str | None = None
) -> None:
    """Rows too wide for the terminal even without their less important columns: one
    `key  value` block per row (as psql's expanded display)."""
    if title:
        console.print(Text(title))
    for i, row in enumerate(rows):
        if i:
            console.print()
        print_table(console, *pairs_table(console, row, columns))


def rows_table(
    console: Console,
    rows: list[dict],
    columns: Sequence[str],
    drop: Sequence[str] = (),
    title: str | None = None,
) -> tuple[Table, int]:
    """The rows as a table, and the width it needs; in a terminal too narrow for it, without
    the columns of `drop`, in that order, until it fits."""
    kept = list(columns)
    while True:
        table, need = _rows_table(console, rows, kept, title)
        droppable = [c for c in drop if c in kept]
        if not console.is_terminal or need <= console.width or not droppable:
            break
        kept.remove(droppable[0])
    hidden = [c for c in columns if c not in kept]
    if hidden:
        table.caption = f"not shown: {', '.join(hidden)} (-o json shows all)"
    return table, need


def pairs_table(
    console: Console, data: dict, keys: Sequence[str], title: str | None = None
) -> tuple[Table, int]:
    """One object as `key  value` lines, and the width it needs (whole values unwrapped)."""
    terminal = console.is_terminal
    table = _table(terminal, title, show_header=False)
    table.add_column(style="bold" if terminal else None, no_wrap=True)
    table.add_column(overflow="fold", no_wrap=not terminal)
    values = [cell(data.get(key), terminal) for key in keys]
    for key, value in zip(keys, values, strict=True):
        table.add_row(key, value)
    whole = _natural(v for k, v in zip(keys, values, strict=True) if k in WHOLE)
    slack = max(0, _natural(values) - max(WRAP_MIN, whole))
    return table, _natural_width(console, table) - slack


def cell(value: Any, terminal: bool = False) -> Text:
    """A value as a person reads it; a list one item per line (comma-separated when plain)."""
    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list | tuple):
        return Text(("\n" if terminal else ",").join(map(str, value)) or "-")
    return Text(str(value))


def _rows_table(
    console: Console, rows: list[dict], columns: list[str], title: str | None
) -> tuple[Table, int]:
    terminal = console.is_terminal
    table = _table(terminal, title)
    cells = [[cell(row.get(c), terminal) for c in columns] for row in rows]
    slack = 0
    for i, column in enumerate(columns):
        whole = not terminal or i == 0 or column in WHOLE
        table.add_column(column, no_wrap=whole, overflow="fold")
        if not whole:
            slack += max(0, _natural([Text(column), *(r[i] for r in cells)]) - WRAP_MIN)
    for row_cells in cells:
        table.add_row(*row_cells)
    return table, _natural_width(console, table) - slack


def _table(terminal: bool, title: str | None, show_header: bool = True) -> Table:
    """A terminal gets bold headers over a rule; anything else plain columns."""
    return Table(
        title=title,
        show_header=show_header,
        box=box.SIMPLE_HEAD if terminal else None,
        header_style="bold" if terminal else "",
        title_style="" if terminal else None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0) if terminal else (0, 2, 0, 0),
    )


def _natural(cells: Iterable[Text]) -> int:
    return max((cell_len(line) for c in cells for line in c.plain.splitlines()), default=0)


def _natural_width(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10**6), table).maximum
