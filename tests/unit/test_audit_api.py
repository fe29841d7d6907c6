"""The audit log through the real app (SQLite store, libvirt's test:///default as `local`):
who a refused change request came from, and durations to 0.1 ms."""

from sqlalchemy import insert

from plugboard.engine import audit
from plugboard.engine.tokens import Principal
from plugboard.store.models import Event, utcnow
from tests.unit.test_api_auth import assert_problem

ADMIN = Principal(1, "admin", "admin")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def events(svc, target: str) -> list[dict]:
    return svc.get("/events", params={"target": target}).json()["items"]


def test_a_change_refused_before_its_route_names_the_token_that_asked(services):
    svc = services.make()
    limit = svc.settings.max_body_bytes
    hosts = "/api/v1/hosts"
    json_type = svc.auth | {"Content-Type": "application/json"}
    broken = svc.client.post(hosts, headers=json_type, content=b"{")
    assert_problem(broken, 422, "VALIDATION_ERROR")
    assert_problem(svc.client.put(hosts, headers=svc.auth), 405, "METHOD_NOT_ALLOWED")
    too_large = svc.client.post(hosts, headers=svc.auth, content=b"x" * (limit + 1))
    assert_problem(too_large, 413, "PAYLOAD_TOO_LARGE")

    got = [(e["actor"], e["action"], e["status"]) for e in events(svc, "hosts")]
    assert got == [
        ("admin", "POST /hosts", 413),
        ("admin", "PUT /hosts", 405),
        ("admin", "POST /hosts", 422),
    ]


def test_wrong_and_revoked_tokens_are_logged_without_their_secret(services):
    svc = services.make()
    secret = svc.post("/tokens", json={"name": "ci", "role": "admin"}).json()["token"]
    assert svc.delete("/tokens/ci").status_code == 204
    wrong = "pb_" + "x" * 43
    for token in (wrong, secret):
        refused = svc.client.request(
            "DELETE", "/api/v1/hosts/local", headers=bearer(token), json={"force": True}
        )
        assert_problem(refused, 401, "UNAUTHORIZED")
        bodiless = svc.client.delete("/api/v1/hosts/local", headers=bearer(token))
        assert_problem(bodiless, 401, "UNAUTHORIZED")

    logged = events(svc, "hosts/local")
    assert [(e["actor"], e["result"]) for e in logged] == [
        ("revoked token 'ci'", "UNAUTHORIZED"),
        ("revoked token 'ci'", "UNAUTHORIZED"),
        ("invalid token", "UNAUTHORIZED"),
        ("invalid token", "UNAUTHORIZED"),
    ]
    everything = svc.get("/events", params={"limit": 1000}).text
    assert secret not in everything and wrong not in everything
    assert svc.get("/hosts/local").status_code == 200  # nothing was deleted


def test_durations_are_kept_and_shown_to_a_tenth_of_a_millisecond(services):
    svc = services.make()
    store = svc.app.state.services.store
    with store.session() as db:
        event = {"actor": "t", "action": "a", "status": 0, "result": "ok"}
        audit.record(db, **event, target="t/new", duration_ms=28.512292001323658)
        # as the log wrote them before it rounded
        db.execute(insert(Event), [event | {"at": utcnow(), "target": "t/old",
                                            "duration_ms": 3.0459999}])  # fmt: skip
        kept = db.execute(Event.__table__.select().where(Event.target == "t/new")).one()
    assert kept.duration_ms == 28.5
    assert [e["duration_ms"] for e in events(svc, "t")] == [3.0, 28.5]
    assert '"duration_ms":28.5' in svc.get("/events", params={"target": "t/new"}).text

    svc.post("/tokens", json={"name": "ci"})
    [made] = events(svc, "tokens/ci")
    assert made["duration_ms"] == round(made["duration_ms"], 1) > 0


def _log(store, *events: tuple[str, str, str, int, str]) -> None:
    with store.session() as db:
        for actor, action, target, status, result in events:
            audit.record(db, actor=actor, action=action, target=target, status=status,
                         result=result, duration_ms=1.0)  # fmt: skip


def test_the_log_filtered_by_target_actor_action_and_outcome(services):
    svc = services.make()
    store = svc.app.state.services.store
    _log(
        store,
        ("ann", "POST /templates", "templates/web-small", 201, "ok"),
        ("bob", "PUT /templates/web-small (web)", "templates/web-small", 422, "VALIDATION_ERROR"),
        ("ann", "DELETE /templates/Web_big", "templates/Web_big", 204, "ok"),
        ("libvirt", "network started", "hosts/h9/networks/web", 0, "event"),
    )

    def targets(**params: str) -> list[str]:
        page = svc.get("/events", params=params | {"limit": 1000}).json()
        return [f"{e['actor']}:{e['target']}" for e in page["items"] if e["actor"] != "admin"]

    assert targets(target_contains="WEB") == [
        "libvirt:hosts/h9/networks/web", "ann:templates/Web_big", "bob:templates/web-small",
        "ann:templates/web-small",
    ]  # fmt: skip
    assert targets(target="templates/web") == []  # this target and below: not a prefix of names
    assert targets(actor="ann") == ["ann:templates/Web_big", "ann:templates/web-small"]
    assert targets(action="(web)") == ["bob:templates/web-small"]
    assert targets(action="delete", actor="ann") == ["ann:templates/Web_big"]
    assert targets(outcome="failed") == ["bob:templates/web-small"]
    assert targets(outcome="ok", target_contains="small") == ["ann:templates/web-small"]
    assert targets(target_contains="b_s") == []  # "_" is itself, not LIKE's any character
    assert targets(target_contains="b_b") == ["ann:templates/Web_big"]

    refused = svc.get("/events", params={"outcome": "maybe"})
    assert_problem(refused, 422, "VALIDATION_ERROR")
    assert_problem(svc.get("/events", params={"actor": "a\nb"}), 422, "VALIDATION_ERROR")


def test_the_engine_pages_a_filtered_log_newest_first(services):
    store = services.make().app.state.services.store
    _log(store, *[("ann", "POST /x", f"x/{n}", 200, "ok") for n in range(7)])
    only = audit.EventFilter(target="x")
    with store.session() as db:
        first = audit.list_events(db, ADMIN, only, limit=5, offset=0)
        second = audit.list_events(db, ADMIN, only, limit=5, offset=5)
    assert (first.total, second.total) == (7, 7)
    assert [e.target for e in first.items] == [f"x/{n}" for n in (6, 5, 4, 3, 2)]
    assert [e.target for e in second.items] == ["x/1", "x/0"]
