"""Dependencies of the routes: the services, a database session, who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from plugboard.engine.tokens import Principal, authenticate
from plugboard.hosts import HostRegistry
from plugboard.settings import Settings
from plugboard.store import Store

API_PREFIX = "/api/v1"


@dataclass
class Services:
    """What one running service holds: its settings, store and hosts."""

    settings: Settings
    store: Store
    registry: HostRegistry

    def close(self) -> None:
        self.registry.close()
        self.store.dispose()


def services(request: Request) -> Services:
    return request.app.state.services


def session(request: Request) -> Iterator[Session]:
    with services(request).store.session() as db:
        yield db


def audit_target(request: Request, target: str) -> None:
    """Name what a request to a collection (a create) is about, for the audit log."""
    request.state.audit_target = target


bearer = HTTPBearer(auto_error=False, description="A plugboard API token.")


def principal(
    request: Request,
    db: Annotated[Session, Depends(session, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    who = authenticate(db, credentials.credentials if credentials else None)
    request.state.actor = who.name
    return who


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    who.require_admin()
    return who


ServicesDep = Annotated[Services, Depends(services)]
# The transaction ends with the route function, before the response is sent: what the client
# is told has been committed, and the audit record that follows can be written.
DbSession = Annotated[Session, Depends(session, scope="function")]
CurrentUser = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
