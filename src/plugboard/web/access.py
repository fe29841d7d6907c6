"""Users and grants (/access): an admin sees every user and every grant, grants a role on a
host, a VM or a network, and revokes one; a user sees their own grants. The page calls the
engine's use cases, whose policy decides (plugboard.engine.policy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from plugboard.api.schemas import GrantCreate
from plugboard.engine import grants, policy, users
from plugboard.errors import PlugboardError
from plugboard.web.core import (
    FormDep,
    Problem,
    Viewer,
    WebRoute,
    Who,
    audited,
    check_change,
    host_names_of,
    render,
    see_other,
)

router = APIRouter(prefix="/access", route_class=WebRoute)


def _page(request: Request, who: Viewer, status: int = 200, **context: Any) -> HTMLResponse:
    with who.services.store.session() as db:
        held = grants.list_grants(db, who.principal)
        people = users.list_users(db) if who.is_admin else []
    return render(
        request, "access.html", status, who=who, hosts=host_names_of(who), nav="access",
        grants=held, people=people, roles=policy.GRANT_ROLES, **context,
    )  # fmt: skip


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def access_page(request: Request, who: Who) -> HTMLResponse:
    return _page(request, who)


@router.post("/grants", include_in_schema=False)
def grant(request: Request, who: Who, posted: FormDep) -> Response:
    """The API's POST /grants, from the page's form: a refusal is shown with what was typed."""
    asked = {k: posted.text(k) for k in ("user", "role", "object")}
    try:
        check_change(request, who, posted)
        body = GrantCreate.model_validate(asked)
        with (
            audited(who, "POST /grants", f"users/{body.user}/grants"),
            who.services.store.session() as db,
        ):
            grants.add_grant(
                db, who.services.tokens, who.principal, body.user, body.role, body.object
            )
    except ValidationError as err:
        return _page(request, who, 422, problem=Problem.invalid(err), asked=asked)
    except PlugboardError as err:
        return _page(request, who, err.status, problem=Problem.of(err), asked=asked)
    return see_other("/access", request)


@router.post("/grants/{grant_id}/revoke", include_in_schema=False)
def revoke(request: Request, who: Who, grant_id: int, posted: FormDep) -> Response:
    try:
        check_change(request, who, posted)
        with (
            audited(who, "DELETE /grants/{grant_id}", "grants"),
            who.services.store.session() as db,
        ):
            grants.revoke_grant(db, who.services.tokens, who.principal, grant_id)
    except PlugboardError as err:
        return _page(request, who, err.status, problem=Problem.of(err))
    return see_other("/access", request)
