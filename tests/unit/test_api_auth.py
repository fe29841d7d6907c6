"""Authentication, roles, the admin token file and the audit log, through the real app
(SQLite store, libvirt's test:///default driver as the host `local`)."""

import stat

import pytest

from plugboard.settings import Settings

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("urn:plugboard:problem:")
    return body


def test_health_needs_no_token(services):
    svc = services.make()
    response = svc.client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer pb_wrong"}, {"Authorization": "Basic YTpi"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_requests_without_a_valid_token_get_401(services, headers):
    svc = services.make()
    response = svc.client.get("/api/v1/hosts", headers=headers)
    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_gets_401(services):
    svc = services.make()
    secret = svc.post("/tokens", json={"name": "ci", "role": "user"}).json()["token"]
    ci = {"Authorization": f"Bearer {secret}"}
    assert svc.client.get("/api/v1/hosts", headers=ci).status_code == 200

    assert svc.delete("/tokens/ci").status_code == 204
    (listed,) = [t for t in svc.get("/tokens").json() if t["name"] == "ci"]
    assert listed["revoked_at"] is not None

    body = assert_problem(svc.client.get("/api/v1/hosts", headers=ci), 401, "UNAUTHORIZED")
    assert "revoked" in body["detail"]


def test_a_user_without_grants_sees_no_host_and_may_not_add_one(services):
    svc = services.make()
    assert svc.post("/users", json={"username": "viewer"}).status_code == 201
    secret = svc.post("/tokens", json={"name": "viewer", "user": "viewer"}).json()["token"]
    viewer = {"Authorization": f"Bearer {secret}"}
    assert svc.client.get("/api/v1/hosts", headers=viewer).json() == []
    assert_problem(svc.client.get("/api/v1/hosts/local", headers=viewer), 404, "HOST_NOT_FOUND")
    response = svc.client.post(
        "/api/v1/hosts", headers=viewer, json={"name": "h1", "uri": "test:///default"}
    )
    assert_problem(response, 403, "PERMISSION_DENIED")
    assert [h["name"] for h in svc.get("/hosts").json()] == ["local"]


def test_first_start_writes_the_admin_token_0600_and_later_starts_reuse_it(services):
    first = services.make()
    token_file = first.settings.token_file
    secret = token_file.read_text()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert secret.startswith("pb_")

    second = services.restart(first)
    assert token_file.read_text() == secret
    assert [t["name"] for t in second.get("/tokens").json()] == ["admin"]
    assert second.get("/hosts").status_code == 200


def test_a_lost_token_file_gets_a_new_admin_token(services):
    first = services.make()
    first.settings.token_file.unlink()
    second = services.restart(first)
    assert [t["name"] for t in second.get("/tokens").json()] == ["admin", "admin-2"]


def test_duplicate_token_names_conflict(services):
    svc = services.make()
    assert svc.post("/tokens", json={"name": "ci"}).status_code == 201
    assert_problem(svc.post("/tokens", json={"name": "ci"}), 409, "TOKEN_EXISTS")


def test_changes_are_audited_with_who_what_target_result_and_duration(services):
    svc = services.make()
    assert svc.post("/hosts", json={"name": "h1", "uri": "test:///default"}).status_code == 201
    assert svc.post("/hosts", json={"name": "h1", "uri": "test:///default"}).status_code == 409
    assert svc.delete("/hosts/h1").status_code == 204
    svc.client.delete("/api/v1/hosts/local")  # no token: refused, and recorded

    page = svc.get("/events", params={"target": "hosts/h1"}).json()
    assert page["total"] == 3
    newest, conflict, created = page["items"]
    assert (created["actor"], created["action"], created["target"], created["result"]) == (
        "admin",
        "POST /hosts",
        "hosts/h1",
        "ok",
    )
    assert (conflict["status"], conflict["result"]) == (409, "HOST_EXISTS")
    assert "exists" in conflict["detail"]
    assert (newest["action"], newest["status"]) == ("DELETE /hosts/{host}", 204)
    assert all(e["duration_ms"] > 0 for e in page["items"])

    anonymous = svc.get("/events", params={"target": "hosts/local"}).json()["items"]
    assert [(e["actor"], e["result"]) for e in anonymous] == [("anonymous", "UNAUTHORIZED")]
    # Reads are not changes and are not recorded.
    assert svc.get("/events").json()["total"] == 4


def test_events_page(services):
    svc = services.make()
    for i in range(5):
        svc.post("/tokens", json={"name": f"t{i}"})
    first = svc.get("/events", params={"limit": 2}).json()
    second = svc.get("/events", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == second["total"] == 5
    assert [e["target"] for e in first["items"] + second["items"]] == [
        "tokens/t4",
        "tokens/t3",
        "tokens/t2",
        "tokens/t1",
    ]


def test_settings_mask_the_database_password(monkeypatch, tmp_path):
    monkeypatch.setenv("PLUGBOARD_DATABASE_URL", "postgresql://pb:s3cret@db.example/pb")
    monkeypatch.setenv("PLUGBOARD_CONFIG", str(tmp_path / "none.toml"))
    shown = Settings().describe()
    assert "s3cret" not in str(shown)
    assert shown["database_url"] == "postgresql://pb:***@db.example/pb"


def test_settings_read_the_toml_file_and_the_environment_wins(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('listen_port = 9000\nlocal_uri = "qemu+ssh://root@h1/system"\n')
    monkeypatch.setenv("PLUGBOARD_CONFIG", str(config))
    monkeypatch.setenv("PLUGBOARD_LISTEN_PORT", "9100")
    settings = Settings()
    assert settings.local_uri == "qemu+ssh://root@h1/system"
    assert settings.listen_port == 9100
