"""/api/v1/users and tokens that belong to users: the real app on a SQLite store."""

from tests.unit.test_api_auth import assert_problem


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def token_of(svc, user: str, name: str, role: str = "user") -> dict[str, str]:
    made = svc.post("/tokens", json={"name": name, "role": role, "user": user})
    assert made.status_code == 201, made.text
    assert made.json()["user"] == user
    return bearer(made.json()["token"])


def test_user_create_read_list_update_delete(services):
    svc = services.make()
    made = svc.post("/users", json={"username": "alice", "password": "correct horse"})
    assert made.status_code == 201, made.text
    assert made.headers["location"] == "/api/v1/users/alice"
    alice = made.json()
    assert alice == {
        "username": "alice",
        "role": "user",
        "enabled": True,
        "has_password": True,
        "tokens": 0,
        "created_at": alice["created_at"],
    }
    assert "correct horse" not in made.text

    listed = svc.get("/users").json()
    assert [(u["username"], u["role"], u["has_password"], u["tokens"]) for u in listed] == [
        ("admin", "admin", False, 1),
        ("alice", "user", True, 0),
    ]
    assert svc.get("/users/alice").json() == alice

    changed = svc.patch("/users/alice", json={"role": "admin", "enabled": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["enabled"]) == ("admin", False)
    assert svc.delete("/users/alice").status_code == 204
    assert_problem(svc.get("/users/alice"), 404, "USER_NOT_FOUND")
    events = svc.get("/events", params={"target": "users/alice"}).json()["items"]
    assert [e["action"] for e in events] == [
        "DELETE /users/{name}",
        "PATCH /users/{name}",
        "POST /users",
    ]
    assert not any("correct horse" in str(e) for e in events)


def test_user_errors_are_problems(services):
    svc = services.make()
    assert svc.post("/users", json={"username": "bob"}).status_code == 201  # no password
    assert_problem(svc.post("/users", json={"username": "bob"}), 409, "USER_EXISTS")
    short = assert_problem(
        svc.post("/users", json={"username": "carl", "password": "short"}), 422, "VALIDATION_ERROR"
    )
    assert short["errors"] == [
        {"field": "password", "message": "Value error, a password has 8-1024 characters"}
    ]
    assert "short" not in short["detail"]
    assert_problem(svc.post("/users", json={"username": "a b"}), 422, "VALIDATION_ERROR")
    assert_problem(svc.patch("/users/bob", json={"role": "root"}), 422, "VALIDATION_ERROR")
    assert_problem(svc.patch("/users/bob", json={"enabled": 0}), 422, "VALIDATION_ERROR")
    assert_problem(svc.patch("/users/nobody", json={"enabled": True}), 404, "USER_NOT_FOUND")
    assert_problem(svc.delete("/users/nobody"), 404, "USER_NOT_FOUND")


def test_users_are_for_admins_only(services):
    svc = services.make()
    svc.post("/users", json={"username": "bob"})
    bob = token_of(svc, "bob", "bob-ci")
    for method, path in [("GET", "/users"), ("GET", "/users/bob"), ("DELETE", "/users/bob")]:
        refused = svc.client.request(method, f"/api/v1{path}", headers=bob)
        assert_problem(refused, 403, "PERMISSION_DENIED")
    assert svc.client.get("/api/v1/users").status_code == 401


def test_a_token_belongs_to_a_user_and_never_has_more_than_their_role(services):
    svc = services.make()
    svc.post("/users", json={"username": "bob", "role": "user"})
    refused = assert_problem(
        svc.post("/tokens", json={"name": "x", "role": "admin", "user": "bob"}),
        409,
        "ROLE_ABOVE_USER",
    )
    assert "make the user admin first" in refused["detail"]
    assert_problem(svc.post("/tokens", json={"name": "x", "user": "nobody"}), 404, "USER_NOT_FOUND")
    # by default, the caller's
    assert svc.post("/tokens", json={"name": "mine"}).json()["user"] == "admin"
    listed = {t["name"]: t["user"] for t in svc.get("/tokens").json()}
    assert listed == {"admin": "admin", "mine": "admin"}

    # An admin's admin token acts as `user` once its user is demoted, at once.
    svc.post("/users", json={"username": "carol", "role": "admin"})
    carol = token_of(svc, "carol", "carol-ops", "admin")
    assert svc.client.get("/api/v1/users", headers=carol).status_code == 200
    assert svc.patch("/users/carol", json={"role": "user"}).status_code == 200
    assert_problem(svc.client.get("/api/v1/users", headers=carol), 403, "PERMISSION_DENIED")
    assert svc.client.get("/api/v1/hosts", headers=carol).status_code == 200  # still reads


def test_a_disabled_users_tokens_get_401_like_revoked_ones_and_work_again_when_enabled(services):
    svc = services.make()
    svc.post("/users", json={"username": "bob"})
    bob = token_of(svc, "bob", "bob-ci")
    assert svc.client.get("/api/v1/hosts", headers=bob).status_code == 200  # now in the cache

    assert svc.patch("/users/bob", json={"enabled": False}).status_code == 200
    refused = assert_problem(svc.client.get("/api/v1/hosts", headers=bob), 401, "UNAUTHORIZED")
    assert "disabled" in refused["detail"]
    assert refused["detail"] == "the user 'bob' of the token 'bob-ci' is disabled"
    # a body from a disabled user's token is refused before it is read, as a revoked one's
    sent = svc.client.post("/api/v1/hosts", headers=bob, json={"name": "h", "uri": "test:///"})
    assert_problem(sent, 401, "UNAUTHORIZED")
    [event] = svc.get("/events", params={"target": "hosts"}).json()["items"]
    assert event["actor"] == "disabled user's token 'bob-ci'"

    assert svc.patch("/users/bob", json={"enabled": True}).status_code == 200
    assert svc.client.get("/api/v1/hosts", headers=bob).status_code == 200


def test_removing_a_user_removes_their_tokens(services):
    svc = services.make()
    svc.post("/users", json={"username": "bob"})
    bob = token_of(svc, "bob", "bob-ci")
    assert svc.client.get("/api/v1/hosts", headers=bob).status_code == 200
    assert svc.delete("/users/bob").status_code == 204
    assert svc.client.get("/api/v1/hosts", headers=bob).status_code == 401
    assert [t["name"] for t in svc.get("/tokens").json()] == ["admin"]


def test_the_last_enabled_admin_user_cannot_be_disabled_demoted_or_removed(services):
    svc = services.make()
    for change in ({"enabled": False}, {"role": "user"}):
        body = assert_problem(svc.patch("/users/admin", json=change), 409, "LAST_ADMIN_USER")
        assert "plugboard user-add NAME --role admin" in body["detail"]
    assert_problem(svc.delete("/users/admin"), 409, "LAST_ADMIN_USER")
    assert svc.get("/users/admin").json()["enabled"] is True

    # Another admin user without an admin token: `admin` still holds the last admin token.
    svc.post("/users", json={"username": "root", "password": "a good password", "role": "admin"})
    held = assert_problem(
        svc.patch("/users/admin", json={"enabled": False}), 409, "LAST_ADMIN_TOKEN"
    )
    assert "--user ADMIN" in held["detail"]

    root = token_of(svc, "root", "root-ops", "admin")
    assert svc.patch("/users/admin", json={"enabled": False}).status_code == 200
    assert svc.get("/hosts").status_code == 401  # the admin token's user is disabled
    again = svc.client.patch("/api/v1/users/root", headers=root, json={"role": "user"})
    assert_problem(again, 409, "LAST_ADMIN_USER")
    assert svc.client.delete("/api/v1/users/admin", headers=root).status_code == 204
    assert svc.client.delete("/api/v1/tokens/root-ops", headers=root).status_code == 409


def test_patch_sets_a_password_that_is_never_shown(services):
    svc = services.make()
    svc.post("/users", json={"username": "bob"})
    assert svc.get("/users/bob").json()["has_password"] is False
    changed = svc.patch("/users/bob", json={"password": "a new password"})
    assert changed.json()["has_password"] is True
    assert "a new password" not in changed.text
