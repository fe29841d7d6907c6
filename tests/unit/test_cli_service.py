"""The `plugboard` command against a served service whose host `local` is libvirt's test
driver (it reads domains and networks; the integration tests change real ones): how tables
read at 80 and 120 columns and when piped, options in any order, PLUGBOARD_HOST, JSON errors,
flags, and ETags."""

import json
import re
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from plugboard.cli import app
from tests.harness.service import ServiceFactory

# The test driver's domain `test` has one vNIC with this MAC; a host URI as long as a test
# host's.
MAC = "aa:bb:cc:dd:ee:ff"
WIDE_URI = "qemu:///system?socket=/run/plugboard-testhost/s12345-0/run/libvirt-sock"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    factory = ServiceFactory(tmp_path_factory.mktemp("cli"))
    service = factory.serve()
    added = service.post("/hosts", json={"name": "wide", "uri": WIDE_URI})
    assert added.status_code == 201, added.text
    yield service
    factory.close()


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str


def plugboard(served, *args: str, columns: int | None = None, **env: str) -> Ran:
    """The command in this process; with `columns`, stdout is taken for a terminal that wide
    (rich's TTY_COMPATIBLE; its bold headers are taken out here), else it is a pipe."""
    base = {"PLUGBOARD_URL": served.settings.api_url, "PLUGBOARD_TOKEN": served.token}
    if columns is not None:
        base |= {"COLUMNS": str(columns), "TTY_COMPATIBLE": "1"}
    result = CliRunner().invoke(app, list(args), env=base | env)
    return Ran(result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr))


def nic(served) -> dict:
    return served.get("/hosts/local/vms/test/nics").json()[0]


# --- tables ----------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [80, 120])
def test_tables_fit_the_terminal_and_never_cut_a_mac_pci_address_or_uri(served, columns):
    vnic = nic(served)
    for args in (["nic-list", "test"], ["net-list"], ["vm-list"], ["token-list"], ["events"]):
        result = plugboard(served, *args, columns=columns)
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert max(map(len, lines)) <= columns, (args, result.stdout)
        assert "…" not in result.stdout
    nics = plugboard(served, "nic-list", "test", columns=columns).stdout
    assert any(MAC in line and vnic["pci_address"] in line for line in nics.splitlines())
    assert (vnic["etag"] in nics) == (columns == 120)


@pytest.mark.parametrize("columns", [80, 120])
def test_a_uri_wider_than_the_room_beside_its_label_is_printed_whole(served, columns):
    """At 120 columns the hosts are a table; at 80 one record per host, and a URI longer than
    the room beside its label gets a longer line (the terminal wraps it), never a cut."""
    result = plugboard(served, "host-list", columns=columns)
    lines = result.stdout.splitlines()
    assert sum(WIDE_URI in line.split() for line in lines) == 1
    assert "…" not in result.stdout
    if columns == 120:
        assert max(map(len, lines)) <= 120 and lines[0].split()[:3] == ["name", "uri", "state"]
        return
    local = lines[: lines.index("")]
    assert local[0].split() == ["name", "local"] and max(map(len, local)) <= 80


def test_piped_tables_are_plain_columns_at_full_width(served):
    result = plugboard(served, "host-list")
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "name", "uri", "state", "domain_type", "libvirt_version", "hypervisor_version", "error"
    ]  # fmt: skip
    wide = next(line for line in lines if line.startswith("wide "))
    assert wide.split()[:3] == ["wide", WIDE_URI, "unreachable"]
    assert "No such file or directory" in wide
    assert not set(result.stdout) & set("─│┃━…\x1b")


@pytest.mark.parametrize("columns", [80, 120])
def test_events_read_at_80_columns(served, columns):
    vnic = nic(served)
    changed = plugboard(served, "nic-set", "test", vnic["name"], "--link", "down", "--dry-run")
    assert changed.exit_code == 0, changed.stderr
    result = plugboard(served, "events", columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= columns
    row = next(line for line in lines if "hosts/wide" in line)
    date, time, actor, result = row.split()[:4]
    assert (len(date), len(time), actor, result) == (10, 8, "admin", "ok")  # 2026-12-06 03:11:19
    assert lines[lines.index(row) + 1].strip() == "POST /hosts"  # what it was, below it
    # What a change did, in words, wrapped to the terminal, never cut.
    words = " ".join(" ".join(line.split()) for line in lines)
    assert "dry run, nothing changed: " in words and "link down (live update, slot kept)" in words


def test_macpool_show_lists_its_ranges_without_python_syntax(served):
    for columns in (None, 80):
        shown = plugboard(served, "macpool-show", columns=columns).stdout
        assert "ranges" in shown and "56:6f:70:00:00:00-56:6f:70:ff:ff:ff" in shown
        assert "[" not in shown and "'" not in shown


# --- options ---------------------------------------------------------------------------------
def test_global_options_go_before_or_after_the_command(served):
    url, token = served.settings.api_url, served.token
    nowhere = {"PLUGBOARD_URL": "http://127.0.0.1:9", "PLUGBOARD_TOKEN": "x"}
    for args in (
        ["--url", url, "--token", token, "net-list", "--host", "local", "-o", "json"],
        ["net-list", "--url", url, "--token", token, "--host", "local", "-o", "json"],
        ["--host", "local", "-o", "json", "net-list", "--url", url, "--token", token],
        ["-o", "json", "--url", url, "net-list", "--token", token],
    ):
        result = plugboard(served, *args, **nowhere)
        assert result.exit_code == 0, (args, result.stderr)
        assert "default" in [n["name"] for n in json.loads(result.stdout)]


def test_a_commands_own_option_wins_over_the_one_before_it(served):
    result = plugboard(served, "--host", "nope", "-o", "json", "net-list", "--host", "local")
    assert result.exit_code == 0, result.stderr
    assert "default" in [n["name"] for n in json.loads(result.stdout)]
    table = plugboard(served, "-o", "json", "net-list", "-o", "table")
    assert table.stdout.split()[0] == "name"


def test_plugboard_host_sets_the_default_host(served):
    elsewhere = plugboard(served, "net-list", PLUGBOARD_HOST="nope")
    assert elsewhere.exit_code == 1 and "no host named 'nope'" in elsewhere.stderr
    assert plugboard(served, "net-list", "--host", "local", PLUGBOARD_HOST="nope").exit_code == 0
    assert plugboard(served, "--host", "local", "net-list", PLUGBOARD_HOST="nope").exit_code == 0
    assert plugboard(served, "net-list").exit_code == 0  # without it: local


def test_with_json_output_errors_are_the_problem_document_on_stderr(served):
    for args in (["host-info", "nope", "-o", "json"], ["-o", "json", "host-info", "nope"]):
        result = plugboard(served, *args)
        assert result.exit_code == 1 and result.stdout == ""
        problem = json.loads(result.stderr)
        assert (problem["status"], problem["code"]) == (404, "HOST_NOT_FOUND")
        assert "no host named 'nope'" in problem["detail"]
    own = plugboard(served, "-o", "json", "nic-set", "test", "nic1")  # the CLI's own error
    assert own.exit_code == 1
    assert json.loads(own.stderr)["detail"].startswith("nothing to change: give --network")
    text = plugboard(served, "host-info", "nope")
    assert text.stderr.startswith("error: no host named 'nope'") and "HOST_NOT_FOUND" in text.stderr


# --- flags and ETags -------------------------------------------------------------------------
def test_boolean_options_are_plain_flags(served):
    shown = plugboard(served, "nic-set", "--help", COLUMNS="100").stdout
    assert "<bool>" not in shown and "--no-dry-run" not in shown
    assert "--dry-run " in shown and "--plug / --unplug" in shown
    vnic = nic(served)
    dry = plugboard(served, "nic-set", "test", vnic["name"], "--link", "down", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "nothing changed" in dry.stdout and nic(served)["linked"] is True


def test_if_match_takes_the_etag_with_or_without_its_quotes(served):
    vnic = nic(served)
    for etag in (vnic["etag"], vnic["etag"].strip('"')):
        args = ["nic-set", "test", vnic["name"], "--link", "down", "--dry-run", "--if-match", etag]
        result = plugboard(served, *args)
        assert result.exit_code == 0, result.stderr
        # The dry run's table shows the vNIC as it would be: link down, so another ETag.
        shown = next(line for line in result.stdout.splitlines() if line.startswith("etag"))
        assert shown.split()[1].startswith('"') and vnic["etag"] not in shown
    stale = plugboard(
        served, "nic-set", "test", vnic["name"], "--link", "down", "--if-match", "0123abcd"
    )
    assert stale.exit_code == 1 and "PRECONDITION_FAILED" in stale.stderr
