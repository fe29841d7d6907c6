"""The audit log: every change request, who made it, on what, how it ended, how long, and
what it did as data where there is more to say than words (a vNIC change:
plugboard.engine.vnic_audit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from sqlalchemy import Select, Table, func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from plugboard.engine import policy
from plugboard.hosts.model import HostEvent
from plugboard.store import Store
from plugboard.store.models import Event, utcnow

if TYPE_CHECKING:
    from plugboard.engine.tokens import Principal


@dataclass(frozen=True)
class EventPage:
    items: list[Event]
    total: int
    limit: int
    offset: int


_APPEND = insert(cast(Table, Event.__table__))


def milliseconds(value: float) -> float:
    """A duration as the log keeps and shows it: to 0.1 ms (a clock's last digits are noise)."""
    return round(value, 1)


def record(
    session: Session | Connection,
    *,
    actor: str,
    action: str,
    target: str,
    status: int,
    result: str,
    duration_ms: float,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
    via: str | None = None,
) -> None:
    # A Core insert, built once: the log is only ever appended to, no ORM identity to track.
    session.execute(
        _APPEND,
        {
            "at": utcnow(),
            "actor": actor,
            "via": via,
            "action": action,
            "target": target,
            "status": status,
            "result": result,
            "detail": detail,
            "duration_ms": milliseconds(duration_ms),
            "data": data,
        },
    )


def recorder(store: Store) -> Callable[[HostEvent, object], None]:
    """The audit log's subscription to the hosts' event feeds."""

    def on_event(event: HostEvent, _lv: object) -> None:
        if event.kind == "network":
            record_host_event(store, event)

    return on_event


def note(store: Store, *, target: str, action: str, result: str, detail: str) -> None:
    """What plugboard did or saw by itself (recovery, reconcile), by 'plugboard'."""
    with store.session() as db:
        record(
            db,
            actor="plugboard",
            action=action,
            target=target,
            status=0,
            result=result,
            duration_ms=0.0,
            detail=detail,
        )


def record_host_event(store: Store, event: HostEvent) -> None:
    """What libvirt reports (a network started by virsh, say) goes into the log too, by
    'libvirt': changes made behind plugboard's back are seen."""
    with store.session() as db:
        record(
            db,
            actor="libvirt",
            action=f"{event.kind} {event.what}",
            target=f"hosts/{event.host}/{event.kind}s/{event.name}",
            status=0,
            result="event",
            duration_ms=0.0,
        )


# What the log's `outcome` filter means: ok, a change that succeeded; failed, one refused or
# failed (a 4xx or 5xx). libvirt's events and plugboard's own notes are neither.
Outcome = Literal["ok", "failed"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


@dataclass(frozen=True)
class EventFilter:
    """Which events to list; each filter given narrows the list (all must hold)."""

    target: str | None = None  # this target and everything below it
    target_contains: str | None = None  # anywhere in the target, any case
    actor: str | None = None  # exactly this actor (a token's name, libvirt, plugboard)
    action: str | None = None  # anywhere in the action (e.g. POST, templates, (web)), any case
    outcome: Outcome | None = None

    def where(self, query: Select[Event]) -> Select[Event]:
        if self.target:
            # A target and everything below it: "hosts/local" also finds
            # "hosts/local/networks/x".
            query = query.where(
                (Event.target == self.target)
                | Event.target.startswith(self.target + "/", autoescape=True)
            )
        if self.target_contains:
            query = query.where(Event.target.icontains(self.target_contains, autoescape=True))
        if self.actor:
            query = query.where(Event.actor == self.actor)
        if self.action:
            query = query.where(Event.action.icontains(self.action, autoescape=True))
        if self.outcome == "ok":
            query = query.where(Event.result == "ok")
        elif self.outcome == "failed":
            query = query.where(Event.status >= 400)
        return query


def list_events(
    session: Session, by: Principal, only: EventFilter, *, limit: int, offset: int
) -> EventPage:
    """The log, newest first: `limit` events from `offset`, of those `only` lets through and
    `by` may read (a user: those of what they may see, and their own)."""
    query = only.where(select(Event))
    scope = policy.event_scope(by)
    if scope is not None:
        below, exact = scope
        seen = [Event.actor == by.user]
        if exact:
            seen.append(Event.target.in_(exact))
        seen += [
            (Event.target == obj) | Event.target.startswith(obj + "/", autoescape=True)
            for obj in below
        ]
        query = query.where(or_(*seen))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(Event.id.desc()).limit(limit).offset(offset))
    return EventPage(list(items), total or 0, limit, offset)
