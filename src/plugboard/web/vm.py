"""A VM's page: a card per vNIC, its toggles and edit form. Every change is first shown as
its plan (the engine's dry run) with Apply and Cancel; Apply sends the change the plan was
made for, with If-Match set to the ETag the card was rendered with. A vNIC is added from the
form under the cards, and removed after a confirmation in its card (refused, with the reason,
while it is plugged into the running VM)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from plugboard.api.schemas import Name
from plugboard.api.vm_schemas import (
    VnicCreate,
    VnicName,
    VnicUpdate,
    source_config,
    vnic_fields_from,
)
from plugboard.engine import interfaces, mirroring, networks, profiles, vms, vnics
from plugboard.errors import InvalidInput, PlugboardError
from plugboard.vnic import VnicEdit
from plugboard.web.core import (
    FormDep,
    Problem,
    Viewer,
    WebRoute,
    Who,
    audited,
    check_change,
    is_htmx,
    render,
    see_other,
)
from plugboard.web.hosts import host_names
from plugboard.web.vnicforms import (
    MACVTAP_MODES,
    MODELS,
    Choices,
    body_from,
    changes,
    choice_of,
    new_vnic_body,
)

router = APIRouter(prefix="/hosts/{host}/vms/{vm}", route_class=WebRoute)
INTERFACE_TYPES = ("nic", "bond", "vlan", "bridge", "ovs-bridge")


def choices_for(who: Viewer, host: str, vm: str | None) -> Choices | None:
    """The Network select's options, for whoever may change the VM (`vm`; None: a new VM):
    the networks they may wire to, and the host's own devices for a host-admin."""
    if not (who.can_operate(host, vm) if vm is not None else who.can_manage(host)):
        return None
    connection = who.services.registry.get(host)
    # names alone (a select needs no more), of the networks the caller may use
    names = networks.network_names(connection, who.principal)
    listing, why = None, None
    if who.can_manage(host):
        try:
            listing = interfaces.list_interfaces(
                connection, who.principal, "auto", INTERFACE_TYPES, usage=False
            )
        except PlugboardError as err:
            why = err.detail
    return Choices.of(names, listing, why)


def _live(
    request: Request,
    who: Viewer,
    host: str,
    vm: str,
    status: int = 200,
    partial: bool | None = None,
    **context: Any,
) -> HTMLResponse:
    """The VM page, or (for htmx) only its live part: the facts and the cards, with a plan,
    a problem or a notice on the card `for_nic`."""
    view = vms.get_vm(
        who.services.registry.get(host), who.services.store, who.principal, vm, ips=True
    )
    partial = is_htmx(request) if partial is None else partial
    template = "_vm_live.html" if partial else "vm.html"
    connection = who.services.registry.get(host)
    return render(
        request, template, status, who=who, host=host, hosts=host_names(who), section="vms",
        vm=view, choices=choices_for(who, host, vm), choice_of=choice_of,
        source_config=source_config, models=MODELS, macvtap_modes=MACVTAP_MODES,
        mirroring=mirroring.vm_mirroring(connection, who.principal, vm),
        profile_names=_profile_names(who) if who.can_operate(host, vm) else [], **context,
    )  # fmt: skip


def _profile_names(who: Viewer) -> list[str]:
    """The Profile select's options: every profile (the engine says, when one is chosen,
    whether the caller may use its network)."""
    with who.services.store.session() as db:
        return [p.name for p in profiles.list_profiles(db)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def vm_page(request: Request, who: Who, host: Name, vm: Name) -> HTMLResponse:
    return _live(request, who, host, vm)


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
def live_part(request: Request, who: Who, host: Name, vm: Name) -> HTMLResponse:
    """The facts and cards alone: what the page re-fetches when the VM changes."""
    return _live(request, who, host, vm, partial=True)


def _request(
    who: Viewer, vm: str, nic: str, body: dict[str, Any], etag: str | None, dry_run: bool
) -> tuple[VnicUpdate, vnics.VnicChangeRequest]:
    """The change as the API's PATCH reads it: refused with the API's words."""
    update = VnicUpdate.model_validate(body)
    edit = VnicEdit(vnic_fields_from(update, only_set=True))
    return update, vnics.VnicChangeRequest(
        vm, nic, edit, who.principal, if_match=etag or None, dry_run=dry_run,
        hotunplug_timeout=who.services.settings.hotunplug_timeout,
    )  # fmt: skip


def _failed(
    request: Request, who: Viewer, host: str, vm: str, nic: str, err: Exception, asked: Any
) -> Response:
    problem = Problem.invalid(err) if isinstance(err, ValidationError) else None
    if problem is None:
        assert isinstance(err, PlugboardError)
        problem = Problem.of(err)
    return _live(
        request, who, host, vm, problem.status, for_nic=nic, problem=problem, asked=asked,
        stale=problem.status == 412,
    )  # fmt: skip


@router.post("/nics/{nic}/plan", include_in_schema=False)
def plan(
    request: Request, who: Who, host: Name, vm: Name, nic: VnicName, posted: FormDep
) -> Response:
    """The dry run of what the card's form asks: the plan, with Apply and Cancel."""
    connection = who.services.registry.get(host)
    etag = posted.text("etag")
    try:
        check_change(request, who, posted)
        card = vnics.get_vnic(connection, who.services.store, who.principal, vm, nic)
        body = body_from(posted, card)
        _, change_request = _request(who, vm, nic, body, etag, dry_run=True)
        change = vnics.change_vnic(
            connection, who.services.registry, who.services.store, change_request
        )
    except (PlugboardError, ValidationError) as err:
        return _failed(request, who, host, vm, nic, err, dict(posted))
    return _live(
        request, who, host, vm, for_nic=nic, plan=change, body=json.dumps(body), etag=etag,
        asked=dict(posted), changes=changes(card.vnic, change.vnic.vnic) if change.vnic else [],
    )  # fmt: skip


@router.post("/nics/{nic}/apply", include_in_schema=False)
def apply(
    request: Request, who: Who, host: Name, vm: Name, nic: VnicName, posted: FormDep
) -> Response:
    """The change the plan was shown for, only if the card is still as it was rendered."""
    connection = who.services.registry.get(host)
    try:
        check_change(request, who, posted)
        try:
            body = json.loads(posted.get("body", ""))
        except ValueError:
            raise InvalidInput("the change is missing; ask for its plan again") from None
        _, change_request = _request(who, vm, nic, body, posted.text("etag"), dry_run=False)
        target = f"hosts/{host}/vms/{vm}/nics/{nic}"
        with audited(who, "PATCH /hosts/{host}/vms/{vm}/nics/{nic}", target):
            change = vnics.change_vnic(
                connection, who.services.registry, who.services.store, change_request
            )
    except (PlugboardError, ValidationError) as err:
        return _failed(request, who, host, vm, nic, err, None)
    if not is_htmx(request):
        return see_other(f"/hosts/{host}/vms/{vm}", request)
    return _live(request, who, host, vm, for_nic=nic, applied=change)


NEW = "new"  # the "Add a vNIC" form's place for a problem (for_nic)


@router.post("/nics", include_in_schema=False)
def add(request: Request, who: Who, host: Name, vm: Name, posted: FormDep) -> Response:
    """Add a vNIC as the API's POST .../nics does: hot-plugged when the VM runs and it is
    plugged; a refusal is shown in the form, with what was typed, and nothing is added."""
    connection = who.services.registry.get(host)
    try:
        check_change(request, who, posted)
        body = VnicCreate.model_validate(new_vnic_body(posted))
        target = f"hosts/{host}/vms/{vm}/nics"
        with audited(who, "POST /hosts/{host}/vms/{vm}/nics", target):
            change = vnics.add_vnic(
                connection, who.services.registry, who.services.store, who.principal, vm,
                vnic_fields_from(body, only_set=False),
                hotunplug_timeout=who.services.settings.hotunplug_timeout,
            )  # fmt: skip
    except (PlugboardError, ValidationError) as err:
        return _failed(request, who, host, vm, NEW, err, dict(posted))
    if not is_htmx(request):
        return see_other(f"/hosts/{host}/vms/{vm}", request)
    assert change.vnic is not None
    return _live(request, who, host, vm, for_nic=change.vnic.vnic.name, added=change)


@router.post("/nics/{nic}/remove", include_in_schema=False)
def remove(
    request: Request, who: Who, host: Name, vm: Name, nic: VnicName, posted: FormDep
) -> Response:
    """First the confirmation in the card; confirmed, the removal (If-Match: the card's
    ETag, so a card changed meanwhile is not removed unseen)."""
    connection = who.services.registry.get(host)
    etag = posted.text("etag")
    try:
        check_change(request, who, posted)
        if posted.get("confirmed") != "yes":
            vnics.get_vnic(
                connection, who.services.store, who.principal, vm, nic
            )  # 404 for a missing one
            return _live(request, who, host, vm, for_nic=nic, confirm_remove=True, etag=etag)
        target = f"hosts/{host}/vms/{vm}/nics/{nic}"
        with audited(who, "DELETE /hosts/{host}/vms/{vm}/nics/{nic}", target):
            vnics.remove_vnic(
                connection, who.services.store, who.principal, vm, nic, if_match=etag or None
            )
    except PlugboardError as err:
        return _failed(request, who, host, vm, nic, err, None)
    if not is_htmx(request):
        return see_other(f"/hosts/{host}/vms/{vm}", request)
    return _live(request, who, host, vm, removed=nic)


@router.post("/nics/{nic}/mirroring", include_in_schema=False)
def mirror(
    request: Request, who: Who, host: Name, vm: Name, nic: VnicName, posted: FormDep
) -> Response:
    """Switch the vNIC's whole-network port mirroring on or off, live, as the API's PUT
    .../mirroring does (no plan: the card itself does not change); a refusal (on needs
    host-admin) is shown on the card."""
    connection = who.services.registry.get(host)
    try:
        check_change(request, who, posted)
        on = posted.text("port_mirroring") == "on"
        target = f"hosts/{host}/vms/{vm}/nics/{nic}/mirroring"
        with audited(who, "PUT /hosts/{host}/vms/{vm}/nics/{nic}/mirroring", target):
            change = mirroring.set_mirroring(
                connection, who.services.store, who.principal, vm, nic, on, []
            )
    except PlugboardError as err:
        return _failed(request, who, host, vm, nic, err, None)
    if not is_htmx(request):
        return see_other(f"/hosts/{host}/vms/{vm}", request)
    return _live(request, who, host, vm, for_nic=nic, mirrored=change.view)
