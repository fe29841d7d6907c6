"""The last administrator cannot lock everyone out: the last admin token is not revoked, and
whoever runs the service can make a new one from the store (`plugboard admin-token --reset`).
The real app on a SQLite store; the recovery command is the real `plugboard`, run beside it."""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import update

from plugboard.engine import tokens
from plugboard.errors import LastAdminToken
from plugboard.settings import Settings
from plugboard.store import Store, Token
from tests.unit.test_api_auth import assert_problem


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def admin_token_command(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """`plugboard admin-token ...` with a service's store and config directory, as root on
    its machine would run it (no API, no token)."""
    env = os.environ | {
        "PLUGBOARD_DATABASE_URL": settings.database_url.get_secret_value(),
        "PLUGBOARD_CONFIG_DIR": str(settings.config_dir),
        "PLUGBOARD_CONFIG": str(settings.config_dir / "none.toml"),  # not the user's file
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "plugboard", "admin-token", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_revoking_the_only_admin_token_is_refused_and_it_still_works(services):
    svc = services.make()
    body = assert_problem(svc.delete("/tokens/admin"), 409, "LAST_ADMIN_TOKEN")
    assert "plugboard token-create --name NAME --role admin" in body["detail"]

    assert svc.get("/hosts").status_code == 200
    assert [(t["name"], t["revoked_at"]) for t in svc.get("/tokens").json()] == [("admin", None)]
    refused = svc.get("/events", params={"target": "tokens/admin"}).json()["items"]
    assert [(e["status"], e["result"]) for e in refused] == [(409, "LAST_ADMIN_TOKEN")]


def test_of_two_admin_tokens_one_may_be_revoked_and_the_last_may_not(services):
    svc = services.make()
    ops = bearer(svc.post("/tokens", json={"name": "ops", "role": "admin"}).json()["token"])
    assert svc.delete("/tokens/admin").status_code == 204
    assert svc.get("/hosts").status_code == 401

    response = svc.client.delete("/api/v1/tokens/ops", headers=ops)
    assert_problem(response, 409, "LAST_ADMIN_TOKEN")
    assert svc.client.get("/api/v1/hosts", headers=ops).status_code == 200
    # Revoking a revoked token again still answers as before.
    assert svc.client.delete("/api/v1/tokens/admin", headers=ops).status_code == 204


def test_user_tokens_are_revoked_as_before_and_do_not_count_as_admins(services):
    svc = services.make()
    viewer = bearer(svc.post("/tokens", json={"name": "viewer"}).json()["token"])
    assert svc.post("/tokens", json={"name": "ci"}).status_code == 201

    assert svc.delete("/tokens/viewer").status_code == 204
    assert svc.client.get("/api/v1/hosts", headers=viewer).status_code == 401
    assert_problem(svc.delete("/tokens/admin"), 409, "LAST_ADMIN_TOKEN")


def test_two_revokes_of_the_last_two_admin_tokens_at_once_leave_one(tmp_path: Path):
    """Both revokes start while two admin tokens are left; one passes, one is refused. (On
    PostgreSQL the admin rows' FOR UPDATE lock does what SQLite's write lock does here.)"""
    store = Store(f"sqlite:///{tmp_path / 'race.db'}")
    store.migrate()
    try:
        for trial in range(20):
            assert sorted(_race(store, f"a{trial}", f"b{trial}")) == ["ok", "refused"]
            with store.session() as db:
                assert len(db.scalars(tokens.active_admins()).all()) == 1
    finally:
        store.dispose()


def _race(store: Store, *names: str) -> list[str]:
    """Only `names` are admin tokens; each is revoked by its own thread, all at once."""
    with store.session() as db:
        db.execute(update(Token).values(revoked_at=tokens.utcnow()))
        for name in names:
            tokens.create_token(db, name, "admin")
    cache, start, outcomes = tokens.TokenCache(), threading.Barrier(len(names)), []

    def revoke(name: str) -> None:
        start.wait()
        try:
            with store.session() as db:
                tokens.revoke_token(db, cache, name)
            outcomes.append("ok")
        except LastAdminToken:
            outcomes.append("refused")

    threads = [threading.Thread(target=revoke, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_the_schema_documents_409_on_revoke(services):
    svc = services.make()
    schema = svc.client.get("/api/v1/openapi.json").json()
    revoke = schema["paths"]["/api/v1/tokens/{name}"]["delete"]
    assert "application/problem+json" in revoke["responses"]["409"]["content"]
    assert "LAST_ADMIN_TOKEN" in revoke["description"]


def test_admin_token_reset_makes_a_token_the_running_service_accepts(services):
    svc = services.make()
    old = bearer(svc.token)
    assert svc.get("/hosts").status_code == 200  # the old token is in the service's cache
    svc.settings.token_file.unlink()  # its secret is lost: nobody can make another

    result = admin_token_command(svc.settings, "--reset", "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    name = report["created"]
    assert name.startswith("admin-recovery-")
    assert report["token_file"] == str(svc.settings.token_file)
    assert report["admin_tokens"] == ["admin", name]
    assert stat.S_IMODE(svc.settings.token_file.stat().st_mode) == 0o600

    assert svc.get("/hosts").status_code == 200  # svc.token reads the new file
    listed = [(t["name"], t["role"], t["revoked_at"]) for t in svc.get("/tokens").json()]
    assert listed == [("admin", "admin", None), (name, "admin", None)]
    assert svc.client.get("/api/v1/hosts", headers=old).status_code == 200  # not revoked
    [event] = svc.get("/events", params={"target": f"tokens/{name}"}).json()["items"]
    assert (event["action"], event["result"]) == ("admin-token --reset", "ok")
    assert event["actor"].startswith("local:")
    assert str(svc.settings.token_file) in event["detail"]


def test_admin_token_reset_twice_makes_two_tokens(services):
    svc = services.make()
    first = admin_token_command(svc.settings, "--reset")
    second = admin_token_command(svc.settings, "--reset")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert f"written to {svc.settings.token_file}" in second.stdout
    names = [t["name"] for t in svc.get("/tokens").json()]
    assert len(names) == 3
    assert all(n.startswith("admin-recovery-") for n in names[1:])


def test_admin_token_without_reset_shows_the_admin_tokens_and_changes_nothing(services):
    svc = services.make()
    svc.post("/tokens", json={"name": "ops", "role": "admin"})
    svc.post("/tokens", json={"name": "viewer"})
    secret = svc.token

    result = admin_token_command(svc.settings)
    assert result.returncode == 0, result.stderr
    assert str(svc.settings.token_file) in result.stdout
    assert "admin, ops" in result.stdout
    assert "admin-token --reset" in result.stdout
    assert svc.token == secret
    assert len(svc.get("/tokens").json()) == 3


def test_admin_token_without_a_store_says_so_and_makes_none(services, tmp_path: Path):
    missing = tmp_path / "nowhere" / "plugboard.db"
    settings = services.settings(database_url=f"sqlite:///{missing}")

    result = admin_token_command(settings, "--reset")
    assert result.returncode == 1
    assert "no plugboard store" in result.stderr
    assert not missing.parent.exists()
    assert not settings.token_file.exists()
