"""The `plugboard` command answers --version and --help."""

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
