"""The `plugboard` command against a real service on a loopback port."""

import json
import os
import subprocess
import sys

import pytest

from tests.harness import TestHost


@pytest.fixture
def served(services):
    return services.serve()


def plugboard(served, *args: str, token: str | None = None):
    return served.cli(*args, token=token)


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
