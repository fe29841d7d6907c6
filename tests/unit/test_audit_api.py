"""The audit log through the real app (SQLite store, libvirt's test:///default as `local`):
durations to 0.1 ms."""

from sqlalchemy import insert

from plugboard.engine import audit
from plugboard.store.models import Event, utcnow


def events(svc, target: str) -> list[dict]:
    return svc.get("/events", params={"target": target}).json()["items"]


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
