"""The `plugboard` command against a real service on a loopback port."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from plugboard.cli import app
from tests.harness import TestHost


@pytest.fixture
def served(services):
    return services.serve()


def plugboard(served, *args: str, token: str | None = None, stdin: str | None = None):
    return served.cli(*args, token=token, stdin=stdin)


def test_host_commands_tables_and_json(served, testhost: TestHost):
    added = plugboard(served, "host-add", "th", testhost.uri, "--output", "json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["uri"] == testhost.uri

    info = plugboard(served, "host-info", "th", "--output", "json")
    assert json.loads(info.stdout)["state"] == "connected"

    table = plugboard(served, "host-list")
    assert table.returncode == 0
    lines = [line for line in table.stdout.splitlines() if line.split()[:1] == ["th"]]
    assert len(lines) == 1 and "connected" in lines[0] and "9.0.0" in lines[0]

    listed = json.loads(plugboard(served, "host-list", "-o", "json").stdout)
    assert sorted(h["name"] for h in listed) == ["local", "th"]

    removed = plugboard(served, "host-remove", "th")
    assert removed.returncode == 0
    assert [h["name"] for h in json.loads(plugboard(served, "host-list", "-o", "json").stdout)] == [
        "local"
    ]


def test_errors_exit_non_zero_with_the_problem_detail_on_stderr(served):
    missing = plugboard(served, "host-info", "nope")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "no host named 'nope'" in missing.stderr
    assert "HOST_NOT_FOUND" in missing.stderr

    bad = plugboard(served, "host-add", "x", "http://example/")
    assert bad.returncode == 1
    assert "is not a libvirt URI" in bad.stderr

    denied = plugboard(served, "host-list", token="pb_not-a-token")
    assert denied.returncode == 1
    assert "token is not known" in denied.stderr


def test_token_create_and_revoke(served):
    created = plugboard(served, "token-create", "--name", "ci", "--role", "user")
    assert created.returncode == 0
    secret = created.stdout.strip()
    assert secret.startswith("pb_")
    assert plugboard(served, "host-list", token=secret).returncode == 0
    assert plugboard(served, "host-add", "x", "test:///default", token=secret).returncode == 1

    assert plugboard(served, "token-revoke", "ci").returncode == 0
    revoked = plugboard(served, "host-list", token=secret)
    assert revoked.returncode == 1
    assert "revoked" in revoked.stderr
    events = json.loads(plugboard(served, "events", "--target", "tokens/ci", "-o", "json").stdout)
    assert [e["action"] for e in events["items"]] == ["DELETE /tokens/{name}", "POST /tokens"]


def test_unreachable_service_is_a_clear_error():
    env = os.environ | {"PLUGBOARD_URL": "http://127.0.0.1:9", "PLUGBOARD_TOKEN": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "plugboard", "host-list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach the plugboard service at http://127.0.0.1:9" in result.stderr


def test_user_commands_add_list_passwd_disable_enable_remove(served):
    added = plugboard(served, "user-add", "alice", "--password-stdin", "-o", "json",
                      stdin="correct horse\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["has_password"] is True
    assert "correct horse" not in added.stdout + added.stderr
    ops = plugboard(served, "user-add", "ops", "--role", "admin", "--no-password")
    assert ops.returncode == 0, ops.stderr

    table = plugboard(served, "user-list")
    rows = {line.split()[0]: line.split()[1:5] for line in table.stdout.splitlines()[1:]}
    assert rows == {
        "admin": ["admin", "yes", "no", "1"],
        "alice": ["user", "yes", "yes", "0"],
        "ops": ["admin", "yes", "no", "0"],
    }
    listed = json.loads(plugboard(served, "user-list", "-o", "json").stdout)
    assert [u["username"] for u in listed] == ["admin", "alice", "ops"]

    made = plugboard(served, "token-create", "--name", "alice-ci", "--user", "alice")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    tokens = json.loads(plugboard(served, "token-list", "-o", "json").stdout)
    assert {t["name"]: t["user"] for t in tokens} == {"admin": "admin", "alice-ci": "alice"}
    too_much = plugboard(served, "token-create", "--name", "x", "--user", "alice", "--role",
                         "admin")  # fmt: skip
    assert too_much.returncode == 1
    assert "ROLE_ABOVE_USER" in too_much.stderr

    passwd = plugboard(served, "user-passwd", "alice", "--password-stdin", stdin="another one\n")
    assert (passwd.returncode, passwd.stdout) == (0, "password of alice set\n")
    assert plugboard(served, "user-disable", "alice").stdout == "user alice disabled\n"
    assert plugboard(served, "host-list", token=secret).returncode == 1
    assert plugboard(served, "user-enable", "alice").returncode == 0
    assert plugboard(served, "host-list", token=secret).returncode == 0
    assert plugboard(served, "user-remove", "alice").stdout == "user alice removed\n"
    assert plugboard(served, "host-list", token=secret).returncode == 1


def test_user_command_errors(served):
    last = plugboard(served, "user-disable", "admin")
    assert last.returncode == 1
    assert "LAST_ADMIN_USER" in last.stderr and "user-add NAME --role admin" in last.stderr
    missing = plugboard(served, "-o", "json", "user-remove", "nobody")
    assert (missing.returncode, json.loads(missing.stderr)["code"]) == (1, "USER_NOT_FOUND")
    empty = plugboard(served, "user-add", "bob", "--password-stdin", stdin="\n")
    assert empty.returncode == 1 and "no password given" in empty.stderr
    short = plugboard(served, "user-add", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "8-1024 characters" in short.stderr


def test_user_add_asks_for_the_password_twice_without_echo(served):
    """The prompt, as on a terminal (click's runner stands in for the terminal)."""
    runner = CliRunner()
    env = {"PLUGBOARD_URL": served.settings.api_url, "PLUGBOARD_TOKEN": served.token}
    result = runner.invoke(app, ["user-add", "carol"], input="a long one\na long one\n", env=env)
    assert result.exit_code == 0, result.output
    assert "a long one" not in result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    mismatch = runner.invoke(app, ["user-passwd", "carol"], input="one pass\ntwo pass\n"
                             "one pass\none pass\n", env=env)  # fmt: skip
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output
