"""Dependencies of the routes: the services, a database session, who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plugboard.api.schemas import Name
from plugboard.api.text import omit_default
from plugboard.engine import policy, vnic_audit
from plugboard.engine.operations import Operations
from plugboard.engine.tokens import Principal, TokenCache, authenticate
from plugboard.engine.vnics import VnicChange
from plugboard.errors import PlugboardError
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.registry import HostRegistry
from plugboard.settings import Settings
from plugboard.store import Store

API_PREFIX = "/api/v1"


@dataclass
class Services:
    """What one running service holds: its settings, store and hosts, and the bulk
    operations it runs (in memory)."""

    settings: Settings
    store: Store
    registry: HostRegistry
    tokens: TokenCache = field(default_factory=TokenCache)
    operations: Operations = field(default_factory=Operations)

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


class AuditedVnic:
    """The audit log's account of one vNIC request (plugboard.engine.vnic_audit), kept on the
    request for the audit middleware: `done(change)` once the engine has answered; an error
    leaving the block is accounted for on its way out.

        with AuditedVnic(request, "change", nic, body, dry_run=dry_run) as audited:
            audited.done(vnics.change_vnic(...))
    """

    def __init__(
        self,
        request: Request,
        operation: vnic_audit.Operation,
        name: str | None,
        body: BaseModel | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.request = request
        self.how: dict[str, Any] = {
            "operation": operation,
            "name": name,
            "asked": body.model_dump(mode="json", exclude_unset=True) if body else None,
            "dry_run": dry_run,
        }

    def __enter__(self) -> AuditedVnic:
        return self

    def __exit__(self, kind: object, err: BaseException | None, trace: object) -> None:
        if isinstance(err, PlugboardError):
            self._keep(vnic_audit.failed(err, **self.how))

    def done(self, change: VnicChange) -> VnicChange:
        self._keep(vnic_audit.changed(change, **self.how))
        return change

    def _keep(self, account: vnic_audit.VnicAccount) -> None:
        state = self.request.state
        state.audit_detail, state.audit_data = account.detail, account.data
        if account.result is not None:
            state.audit_result = account.result


bearer = HTTPBearer(auto_error=False, description="A plugboard API token.")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Who asks (plugboard.api.limits has asked already when a body came)."""
    who = await caller(request.app.state.services, credentials.credentials if credentials else None)
    request.state.actor, request.state.via = who.name, who.via
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
    """plugboard's own things (users, tokens): an admin's, as the policy says."""
    policy.require(who, policy.Action.ADMIN, "plugboard")
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
