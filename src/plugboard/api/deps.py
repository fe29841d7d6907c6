"""Dependencies of the routes: the services, a database session, who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plugboard.api.schemas import Name
from plugboard.api.text import omit_default
from plugboard.engine.tokens import Principal, TokenCache, authenticate
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.registry import HostRegistry
from plugboard.settings import Settings
from plugboard.store import Store

API_PREFIX = "/api/v1"


@dataclass
class Services:
    """What one running service holds: its settings, store and hosts."""

    settings: Settings
    store: Store
    registry: HostRegistry
    tokens: TokenCache = field(default_factory=TokenCache)

    def close(self) -> None:
        self.registry.close()
        self.store.dispose()


# Dependencies that do not block are `async`: FastAPI runs sync ones on its thread pool, a
# thread hop per dependency per request.
async def services(request: Request) -> Services:
    return request.app.state.services


def session(request: Request) -> Iterator[Session]:
    with request.app.state.services.store.session() as db:
        yield db


def audit_target(request: Request, target: str) -> None:
    """Name what a request to a collection (a create) is about, for the audit log."""
    request.state.audit_target = target


def audit_detail(request: Request, detail: str) -> None:
    """What the audit log says of a change that succeeded (a failure says its problem)."""
    request.state.audit_detail = detail


bearer = HTTPBearer(auto_error=False, description="A plugboard API token.")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Who asks (plugboard.api.limits has asked already when a body came)."""
    who = await caller(request.app.state.services, credentials.credentials if credentials else None)
    request.state.actor = who.name
    return who


async def caller(svc: Services, secret: str | None) -> Principal:
    """Who holds `secret`: from the token cache, else from the database (on a thread)."""
    who = svc.tokens.get(secret)
    if who is None:
        who = await run_in_threadpool(_authenticate, svc, secret)
    return who


def _authenticate(svc: Services, secret: str | None) -> Principal:
    generation = svc.tokens.generation
    with svc.store.session() as db:
        who = authenticate(db, secret)
    if secret:  # authenticate refuses a missing one
        svc.tokens.put(secret, who, generation)
    return who


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    who.require_admin()
    return who


ServicesDep = Annotated[Services, Depends(services)]
# The transaction ends with the route function, before the response is sent: what the client
# is told has been committed, and the audit record that follows can be written.
DbSession = Annotated[Session, Depends(session, scope="function")]
CurrentUser = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]


async def store_of(svc: ServicesDep) -> Store:
    return svc.store


StoreDep = Annotated[Store, Depends(store_of)]


async def host_of(host: Name, svc: ServicesDep) -> HostConnection:
    return svc.registry.get(host)


HostDep = Annotated[HostConnection, Depends(host_of)]


IfMatch = Annotated[
    str | SkipJsonSchema[None],  # a header is text or left out: never null
    Header(
        description="The ETag as read (or a list of entity tags, or *, as RFC 9110 says): "
        "change it only if nobody else has. 412 when it does not match.",
        max_length=1024,
        json_schema_extra=omit_default,
    ),
]
