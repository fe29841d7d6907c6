"""Templates, what new VMs are made of (not bound to a host): the list, the create and edit
form (size, boot, vNICs), delete behind a confirmation. The form is read into the API's body
and by the API's schema (plugboard.web.templateforms), then given to the engine's use cases."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from plugboard.api.schemas import Name
from plugboard.api.vm_schemas import TemplateCreate, TemplateUpdate
from plugboard.engine import templates
from plugboard.errors import PlugboardError
from plugboard.hosts.model import DOMAIN_TYPES
from plugboard.web.core import (
    FormDep,
    Problem,
    Viewer,
    WebRoute,
    Who,
    audited,
    check_change,
    render,
    see_other,
)
from plugboard.web.hosts import host_names
from plugboard.web.templateforms import KINDS, MACVTAP_MODES, MODELS, TemplateForm, rows_of

router = APIRouter(prefix="/templates", route_class=WebRoute)


def _list(request: Request, who: Viewer) -> HTMLResponse:
    with who.services.store.session() as db:
        rows = [(t, rows_of(t)) for t in templates.list_templates(db)]
        return render(
            request, "templates.html", who=who, hosts=host_names(who), nav="templates", rows=rows
        )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def templates_page(request: Request, who: Who) -> HTMLResponse:
    return _list(request, who)


def _form(
    request: Request, who: Viewer, form: TemplateForm, status: int = 200, **context: Any
) -> HTMLResponse:
    """The create form (`editing` None) or the edit form of template `editing`."""
    problem = context.get("problem")
    return render(
        request, "template_form.html", status, who=who, hosts=host_names(who), nav="templates",
        form=form, errors=form.errors(problem), kinds=KINDS, models=MODELS,
        macvtap_modes=MACVTAP_MODES, domain_types=DOMAIN_TYPES, **context,
    )  # fmt: skip


def _refused(err: ValidationError | PlugboardError) -> Problem:
    return Problem.invalid(err) if isinstance(err, ValidationError) else Problem.of(err)


# --- create ----------------------------------------------------------------------------------
@router.get("/new", response_class=HTMLResponse, include_in_schema=False)
def new_form(request: Request, who: Who) -> HTMLResponse:
    return _form(request, who, TemplateForm.blank(), editing=None)


@router.post("/new", include_in_schema=False)
def create(request: Request, who: Who, posted: FormDep) -> Response:
    form = TemplateForm.posted(posted)
    try:
        check_change(request, who, posted)
        if "add_row" in posted:  # one more empty vNIC row (no JavaScript needed)
            return _form(request, who, form, editing=None, empty_rows=2)
        body = TemplateCreate.model_validate(form.body())
        with (
            audited(who, "POST /templates", f"templates/{body.name}"),
            who.services.store.session() as db,
        ):
            templates.create_template(db, who.principal, body.spec())
    except (ValidationError, PlugboardError) as err:
        problem = _refused(err)
        return _form(request, who, form, problem.status, editing=None, problem=problem)
    return see_other("/templates", request)


# --- edit ------------------------------------------------------------------------------------
def _template_form(who: Viewer, name: str) -> TemplateForm:
    with who.services.store.session() as db:
        return TemplateForm.of(templates.get_template(db, name))


@router.get("/{name}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_form(request: Request, who: Who, name: Name) -> HTMLResponse:
    return _form(request, who, _template_form(who, name), editing=name)


@router.post("/{name}/edit", include_in_schema=False)
def edit(request: Request, who: Who, name: Name, posted: FormDep) -> Response:
    _template_form(who, name)  # not there: the error page, as for a GET
    form = TemplateForm.posted(posted)
    form.name = name  # not renamed: the path names it
    try:
        check_change(request, who, posted)
        if "add_row" in posted:
            return _form(request, who, form, editing=name, empty_rows=2)
        body = TemplateUpdate.model_validate(form.body(with_name=False))
        with (
            audited(who, "PUT /templates/{name}", f"templates/{name}"),
            who.services.store.session() as db,
        ):
            templates.replace_template(db, who.principal, name, body.spec_for(name))
    except (ValidationError, PlugboardError) as err:
        problem = _refused(err)
        return _form(request, who, form, problem.status, editing=name, problem=problem)
    return see_other("/templates", request)


# --- delete ----------------------------------------------------------------------------------
def _delete_page(
    request: Request, who: Viewer, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    with who.services.store.session() as db:
        tmpl = templates.get_template(db, name)
        return render(
            request, "template_delete.html", status, who=who, hosts=host_names(who),
            nav="templates", tmpl=tmpl, vnics=rows_of(tmpl), **context,
        )  # fmt: skip


@router.get("/{name}/delete", response_class=HTMLResponse, include_in_schema=False)
def delete_form(request: Request, who: Who, name: Name) -> HTMLResponse:
    return _delete_page(request, who, name)


@router.post("/{name}/delete", include_in_schema=False)
def delete(request: Request, who: Who, name: Name, posted: FormDep) -> Response:
    try:
        check_change(request, who, posted)
        with (
            audited(who, "DELETE /templates/{name}", f"templates/{name}"),
            who.services.store.session() as db,
        ):
            templates.delete_template(db, who.principal, name)
    except PlugboardError as err:
        return _delete_page(request, who, name, err.status, problem=Problem.of(err))
    return see_other("/templates", request)
