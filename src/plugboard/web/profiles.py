"""vNIC profiles (/profiles): the list (read-only for users, who may wire their vNICs through
one), the create form, the edit form whose change is first shown as its plan (the engine's
dry run: each vNIC wired through the profile and how it would change), then applied with each
vNIC's outcome, and delete behind a confirmation (refused, with the vNICs, while in use).
The form is read into the API's body by the API's schema (plugboard.web.profileforms)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from plugboard.api.profile_schemas import ProfileCreate, ProfileUpdate
from plugboard.api.schemas import Name
from plugboard.engine import policy, profile_rollout, profiles
from plugboard.engine.policy import Action
from plugboard.errors import InvalidInput, PlugboardError
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
from plugboard.web.profileforms import KINDS, MACVTAP_MODES, QOS, ProfileForm, profile_out

router = APIRouter(prefix="/profiles", route_class=WebRoute)


def _list(request: Request, who: Viewer) -> HTMLResponse:
    with who.services.store.session() as db:
        rows = [profile_out(p) for p in profiles.list_profiles(db)]
    return render(
        request, "profiles.html", who=who, hosts=host_names(who), nav="profiles", rows=rows
    )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def profiles_page(request: Request, who: Who) -> HTMLResponse:
    return _list(request, who)


def _form(
    request: Request, who: Viewer, form: ProfileForm, status: int = 200, **context: Any
) -> HTMLResponse:
    """The create form (`editing` None) or the edit form of profile `editing`, with a plan
    or an outcome below it when there is one."""
    return render(
        request, "profile_form.html", status, who=who, hosts=host_names(who), nav="profiles",
        form=form, errors=form.errors(context.get("problem")), kinds=KINDS, qos=QOS,
        macvtap_modes=MACVTAP_MODES, **context,
    )  # fmt: skip


def _refused(err: ValidationError | PlugboardError) -> Problem:
    return Problem.invalid(err) if isinstance(err, ValidationError) else Problem.of(err)


def _require_admin(who: Viewer) -> None:
    """The forms are an admin's: anyone else gets the engine's 403 as the page."""
    policy.require(who.principal, Action.ADMIN, "profiles")


# --- create ----------------------------------------------------------------------------------
@router.get("/new", response_class=HTMLResponse, include_in_schema=False)
def new_form(request: Request, who: Who) -> HTMLResponse:
    _require_admin(who)
    return _form(request, who, ProfileForm.blank(), editing=None)


@router.post("/new", include_in_schema=False)
def create(request: Request, who: Who, posted: FormDep) -> Response:
    form = ProfileForm.posted(posted)
    try:
        check_change(request, who, posted)
        body = ProfileCreate.model_validate(form.body())
        with (
            audited(who, "POST /profiles", f"profiles/{body.name}"),
            who.services.store.session() as db,
        ):
            profiles.create_profile(db, who.principal, body.spec_for(body.name))
    except (ValidationError, PlugboardError) as err:
        problem = _refused(err)
        return _form(request, who, form, problem.status, editing=None, problem=problem)
    return see_other("/profiles", request)


# --- edit: the plan, then apply --------------------------------------------------------------
def _profile_form(who: Viewer, name: str) -> ProfileForm:
    with who.services.store.session() as db:
        return ProfileForm.of(profiles.get_profile(db, name))


@router.get("/{name}", response_class=HTMLResponse, include_in_schema=False)
def edit_form(request: Request, who: Who, name: Name) -> HTMLResponse:
    _require_admin(who)
    return _form(request, who, _profile_form(who, name), editing=name)


def _rollout(who: Viewer, name: str, body: dict[str, Any], dry_run: bool) -> Any:
    """The engine's profile change (a dry run: each vNIC's plan), read as the API's PUT."""
    spec = ProfileUpdate.model_validate(body).spec_for(name)
    return profile_rollout.update_profile(
        who.services.store, who.services.registry, who.principal, spec, dry_run=dry_run,
        hotunplug_timeout=who.services.settings.hotunplug_timeout,
    )  # fmt: skip


@router.post("/{name}", include_in_schema=False)
def plan(request: Request, who: Who, name: Name, posted: FormDep) -> Response:
    """The dry run of the edited profile: every vNIC wired through it and its plan, with
    what the profile's fields change, and Apply."""
    before = _profile_form(who, name)  # not there: the error page, as for a GET
    form = ProfileForm.posted(posted)
    form.fields["name"] = name  # not renamed: the path names it
    try:
        check_change(request, who, posted)
        body = form.body(with_name=False)
        change = _rollout(who, name, body, dry_run=True)
    except (ValidationError, PlugboardError) as err:
        problem = _refused(err)
        return _form(request, who, form, problem.status, editing=name, problem=problem)
    return _form(
        request, who, form, editing=name, plan=change, body=json.dumps(body),
        changes=before.changes(form),
    )  # fmt: skip


@router.post("/{name}/apply", include_in_schema=False)
def apply(request: Request, who: Who, name: Name, posted: FormDep) -> Response:
    """The change the plan was shown for: the profile replaced and each vNIC brought to it;
    the page lists each vNIC's outcome."""
    form = _profile_form(who, name)
    try:
        check_change(request, who, posted)
        try:
            body = json.loads(posted.get("body", ""))
        except ValueError:
            raise InvalidInput("the change is missing; ask for its plan again") from None
        with audited(who, "PUT /profiles/{name}", f"profiles/{name}"):
            change = _rollout(who, name, body, dry_run=False)
    except (ValidationError, PlugboardError) as err:
        problem = _refused(err)
        return _form(request, who, form, problem.status, editing=name, problem=problem)
    return _form(request, who, _profile_form(who, name), editing=name, outcome=change)


# --- delete ----------------------------------------------------------------------------------
def _delete_page(
    request: Request, who: Viewer, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    with who.services.store.session() as db:
        profile = profile_out(profiles.get_profile(db, name))
    return render(
        request, "profile_delete.html", status, who=who, hosts=host_names(who),
        nav="profiles", profile=profile, **context,
    )  # fmt: skip


@router.get("/{name}/delete", response_class=HTMLResponse, include_in_schema=False)
def delete_form(request: Request, who: Who, name: Name) -> HTMLResponse:
    _require_admin(who)
    return _delete_page(request, who, name)


@router.post("/{name}/delete", include_in_schema=False)
def delete(request: Request, who: Who, name: Name, posted: FormDep) -> Response:
    try:
        check_change(request, who, posted)
        with (
            audited(who, "DELETE /profiles/{name}", f"profiles/{name}"),
            who.services.store.session() as db,
        ):
            profiles.delete_profile(db, who.services.registry, who.principal, name)
    except PlugboardError as err:
        return _delete_page(request, who, name, err.status, problem=Problem.of(err))
    return see_other("/profiles", request)
