"""The `plugboard` command: --version, --help, and the offline net-check."""

import json
from pathlib import Path

from typer.testing import CliRunner

from plugboard import __version__
from plugboard.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"plugboard {__version__}\n"


def test_help_lists_serve():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output


DATA = Path(__file__).resolve().parents[1] / "data" / "netxml"


def test_net_check_prints_canonical_xml_of_valid_files():
    result = runner.invoke(app, ["net-check", str(DATA / "open.xml")])
    assert result.exit_code == 0
    assert result.output.startswith("<network>\n  <name>opn</name>\n")
    assert "<bridge stp='on' delay='0'/>" in result.output


def test_net_check_reports_each_bad_file_and_exits_1():
    result = runner.invoke(
        app,
        [
            "net-check",
            str(DATA / "open.xml"),
            str(DATA / "invalid" / "range-outside.xml"),
            str(DATA / "missing.xml"),
        ],
    )
    assert result.exit_code == 1
    assert "range-outside.xml: /network/ip[1]/dhcp/range[1]/@start" in result.stderr
    assert "missing.xml: cannot read" in result.stderr
    assert "<name>opn</name>" in result.stdout


def test_net_check_quiet_and_json():
    quiet = runner.invoke(app, ["net-check", "--quiet", str(DATA / "open.xml")])
    assert (quiet.exit_code, quiet.output) == (0, "")
    as_json = runner.invoke(app, ["net-check", "--json", str(DATA / "open.xml")])
    assert json.loads(as_json.stdout)["forward"] == {"mode": "open"}
