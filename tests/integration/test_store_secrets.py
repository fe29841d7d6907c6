"""What the store keeps of secrets: no password or token in clear anywhere in the SQLite
file (with its -wal and -shm) or in a dump of the PostgreSQL database; and the SQLite file is
for its owner only (0600 in a 0700 directory)."""

import logging
import stat
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from plugboard.store import Store
from tests.harness.postgres import PostgresServer

PASSWORDS = ["first clear password", "Zweites-Passwort-42", "third one, changed later"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sign_in_on_the_web(client: TestClient, username: str, password: str) -> None:
    form = client.get("/sign-in")
    csrf = form.cookies.get("pb_sign_in") or client.cookies.get("pb_sign_in")
    signed = client.post(
        "/sign-in",
        data={"csrf": csrf, "username": username, "password": password, "next": "/hosts"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def stored_bytes(database_url: str, request: pytest.FixtureRequest) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "")
        files = [database.with_name(database.name + s) for s in ("", "-wal", "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    server: PostgresServer = request.getfixturevalue("postgres")
    dump = subprocess.run(
        [str(server.bindir / "pg_dump"), "-h", "127.0.0.1", "-p", str(server.port),
         "-U", "postgres", "--inserts", url.database or ""],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert b"CREATE TABLE public.users" in dump.stdout
    return dump.stdout


def test_no_password_or_token_is_stored_in_clear(
    services, database_url: str, request: pytest.FixtureRequest
):
    svc = services.make(database_url=database_url)
    secrets = [svc.token]
    for i, password in enumerate(PASSWORDS[:2]):
        made = svc.post("/users", json={"username": f"u{i}", "password": password})
        assert made.status_code == 201, made.text
        token = svc.post("/tokens", json={"name": f"t{i}", "user": f"u{i}"}).json()["token"]
        used = svc.client.get("/api/v1/hosts", headers={"Authorization": f"Bearer {token}"})
        assert used.status_code == 200
        secrets.append(token)
    assert svc.patch("/users/u1", json={"password": PASSWORDS[2]}).status_code == 200
    # a failed and a good sign-in on the web: both in the audit log
    with TestClient(svc.app) as browser:
        refused = browser.post("/sign-in", data={"username": "u0", "password": PASSWORDS[2]})
        assert refused.status_code == 403  # no CSRF cookie: refused before any check
        sign_in_on_the_web(browser, "u0", PASSWORDS[0])
    svc.app.state.services.close()

    stored = stored_bytes(database_url, request)
    assert b"$argon2id$" in stored  # the hashes are there: the scan reads the right bytes
    for secret in [*PASSWORDS, *secrets]:
        assert secret.encode() not in stored, secret
        assert secret.removeprefix("pb_").encode() not in stored, secret


def test_a_new_sqlite_store_is_0600_in_a_0700_directory(tmp_path: Path):
    database = tmp_path / "made" / "by-plugboard" / "plugboard.db"
    store = Store(f"sqlite:///{database}")
    store.migrate()
    with store.session() as db:  # the -wal and -shm files exist while the engine is open
        db.connection()
        assert mode(database.parent) == 0o700
        assert [mode(database.with_name(database.name + s)) for s in ("", "-wal", "-shm")] == [
            0o600
        ] * 3
    store.dispose()


def test_an_existing_store_that_others_may_read_is_made_0600_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    database = tmp_path / "plugboard.db"
    Store(f"sqlite:///{database}").dispose()
    database.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="plugboard.store.db"):
        Store(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600
    assert f"the store file {database} was mode 0644, now 0600" in caplog.text
