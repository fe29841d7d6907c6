"""The CLI's tables: they fit 80 and 120 columns without cutting a MAC, an IP, a PCI address,
a URI or an ETag, and are plain columns when stdout is not a terminal."""

import io

import pytest
from rich.console import Console

from plugboard.cli.tables import pairs_table, print_records, print_table, rows_table

MAC = "52:54:00:ab:cd:ef"
IPS = ["10.200.100.250", "fd00:1234:5678:9abc::2"]
PCI = "0000:01:00.0"
ETAG = '"0123456789abcdef0123"'
URI = "qemu+ssh://root@hypervisor-17.example.org/system"
VNIC = {
    "name": "nic1",
    "mac": MAC,
    "model": "virtio",
    "source": "network pbtest-a-long-network-name/portgroup",
    "plugged": True,
    "linked": False,
    "active": False,
    "target_dev": "vnet12",
    "pci_address": PCI,
    "ips": IPS,
    "etag": ETAG,
}
COLUMNS = list(VNIC)
DROP = ["target_dev", "model", "active", "etag", "linked", "plugged", "pci_address"]


def console(width: int, terminal: bool = True) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=terminal, color_system=None), out


def lines_of(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_a_vnic_table_fits_the_terminal_with_its_addresses_whole(width):
    con, out = console(width)
    print_table(con, *rows_table(con, [VNIC, VNIC | {"name": "nic2"}], COLUMNS, DROP))
    lines = lines_of(out)
    assert max(len(line) for line in lines) <= width
    text = out.getvalue()
    for whole in (MAC, PCI, *IPS):
        assert sum(whole in line for line in lines) == 2, whole  # on one line, in each row
    assert "…" not in text
    assert "not shown: model, " in text and "target_dev" in text.split("not shown:")[1]


def test_at_120_columns_the_etag_shows_and_at_80_it_is_named_as_not_shown():
    wide, out = console(120)
    print_table(wide, *rows_table(wide, [VNIC], COLUMNS, DROP))
    assert ETAG in out.getvalue() and "etag" in lines_of(out)[0]
    narrow, out = console(80)
    print_table(narrow, *rows_table(narrow, [VNIC], COLUMNS, DROP))
    assert ETAG not in out.getvalue() and "etag" in out.getvalue().split("not shown:")[1]


def test_a_less_important_column_wraps_rather_than_an_address():
    con, out = console(80)
    print_table(con, *rows_table(con, [VNIC], ["name", "mac", "source", "ips"]))
    lines = lines_of(out)
    assert max(len(line) for line in lines) <= 80
    assert any(MAC in line for line in lines)


def test_rows_too_wide_even_without_their_droppable_columns_become_records():
    host = {"name": "h1", "uri": URI, "state": "connected", "error": None}
    con, out = console(80)
    print_records(con, [host, host | {"name": "h2"}], list(host))
    lines = lines_of(out)
    assert max(len(line) for line in lines) <= 80
    assert sum(URI in line for line in lines) == 2
    assert lines[0].split() == ["name", "h1"] and "" in lines


def test_not_a_terminal_plain_columns_at_full_width_nothing_cut():
    con, out = console(80, terminal=False)
    print_table(con, *rows_table(con, [VNIC], COLUMNS, DROP))
    header, row = lines_of(out)
    assert header.split() == COLUMNS
    assert row.split() == [
        "nic1", MAC, "virtio", "network", "pbtest-a-long-network-name/portgroup", "yes", "no",
        "no", "vnet12", PCI, ",".join(IPS), ETAG,
    ]  # fmt: skip
    assert not set(out.getvalue()) & set("─│┃━…\x1b")


def test_one_object_lists_its_list_values_plainly():
    pool = {"name": "default", "ranges": ["52:54:00:00:00:00-52:54:00:00:00:ff", "x-y"]}
    for terminal in (True, False):
        con, out = console(80, terminal)
        print_table(con, *pairs_table(con, pool, ["name", "ranges"]))
        assert "[" not in out.getvalue() and "'" not in out.getvalue()
        assert "52:54:00:00:00:00-52:54:00:00:00:ff" in out.getvalue()
