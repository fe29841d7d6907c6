"""The hosts page: each host's state, versions and counts; add, edit, remove."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from plugboard.api.schemas import HostCreate, HostUpdate, Name
from plugboard.engine import hosts
from plugboard.errors import PlugboardError
from plugboard.web.core import (
    HOST_SECTIONS,
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

router = APIRouter(route_class=WebRoute)


@dataclass(frozen=True)
class HostRow:
    view: hosts.HostView
    counts: hosts.HostCounts | None


def host_rows(who: Viewer) -> list[HostRow]:
    registry = who.services.registry
    with who.services.store.session() as db:
        views = hosts.list_hosts(db, registry, who.principal)
    return [HostRow(v, hosts.counts(registry.get(v.name))) for v in views]


def host_names(who: Viewer) -> list[str]:
    return host_names_of(who)


def _page(request: Request, who: Viewer, status: int = 200, **context: object) -> HTMLResponse:
    rows = host_rows(who)
    return render(
        request, "hosts.html", status, who=who, rows=rows, hosts=[r.view.name for r in rows],
        **context,
    )  # fmt: skip


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/hosts", status_code=303)


@router.get("/hosts", response_class=HTMLResponse, include_in_schema=False)
def hosts_page(request: Request, who: Who) -> HTMLResponse:
    return _page(request, who)


@router.get("/switch", include_in_schema=False)
def switch(host: Name, section: str = "networks") -> Response:
    """The header's host switcher (a GET form: it works without JavaScript)."""
    known = {path for path, _ in HOST_SECTIONS}
    return RedirectResponse(f"/hosts/{host}/{section if section in known else 'networks'}", 303)


@router.post("/hosts", include_in_schema=False)
def add_host(request: Request, who: Who, posted: FormDep) -> Response:
    asked = {k: posted.text(k) for k in ("name", "uri", "domain_type") if posted.text(k)}
    try:
        check_change(request, who, posted)
        body = HostCreate.model_validate(asked)
        with audited(who, "POST /hosts", f"hosts/{body.name}"), who.services.store.session() as db:
            hosts.add_host(
                db, who.services.registry, who.principal, body.name, body.uri, body.domain_type
            )
    except ValidationError as err:
        return _page(request, who, 422, problem=Problem.invalid(err), asked=asked)
    except PlugboardError as err:
        return _page(request, who, err.status, problem=Problem.of(err), asked=asked)
    return see_other("/hosts", request)


def _one(who: Viewer, name: str) -> hosts.HostView:
    with who.services.store.session() as db:
        return hosts.get_host(db, who.services.registry, who.principal, name)


@router.get("/hosts/{host}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_form(request: Request, who: Who, host: Name) -> HTMLResponse:
    return render(request, "host_edit.html", who=who, host=_one(who, host), hosts=host_names(who))


@router.post("/hosts/{host}/edit", include_in_schema=False)
def edit_host(request: Request, who: Who, host: Name, posted: FormDep) -> Response:
    asked = {k: posted.text(k) for k in ("uri", "domain_type") if posted.text(k)}
    try:
        check_change(request, who, posted)
        body = HostUpdate.model_validate(asked)
        with (
            audited(who, "PATCH /hosts/{host}", f"hosts/{host}"),
            who.services.store.session() as db,
        ):
            hosts.update_host(
                db, who.services.registry, who.principal, host, **body.model_dump(exclude_none=True)
            )
    except (ValidationError, PlugboardError) as err:
        problem = Problem.invalid(err) if isinstance(err, ValidationError) else Problem.of(err)
        return render(
            request, "host_edit.html", problem.status, who=who, host=_one(who, host),
            hosts=host_names(who), problem=problem, asked=asked,
        )  # fmt: skip
    return see_other("/hosts", request)


@router.get("/hosts/{host}/remove", response_class=HTMLResponse, include_in_schema=False)
def remove_form(request: Request, who: Who, host: Name) -> HTMLResponse:
    return render(request, "host_remove.html", who=who, host=_one(who, host), hosts=host_names(who))


@router.post("/hosts/{host}/remove", include_in_schema=False)
def remove_host(request: Request, who: Who, host: Name, posted: FormDep) -> Response:
    try:
        check_change(request, who, posted)
        with (
            audited(who, "DELETE /hosts/{host}", f"hosts/{host}"),
            who.services.store.session() as db,
        ):
            hosts.remove_host(db, who.services.registry, who.principal, who.services.tokens, host)
    except PlugboardError as err:
        return render(
            request, "host_remove.html", err.status, who=who, host=_one(who, host),
            hosts=host_names(who), problem=Problem.of(err),
        )  # fmt: skip
    return see_other("/hosts", request)


@router.get("/hosts/{host}", include_in_schema=False)
def host_home(host: Name) -> Response:
    return RedirectResponse(f"/hosts/{host}/networks", status_code=303)
