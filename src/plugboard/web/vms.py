"""A host's VMs: the table (state, vNICs, addresses, free PCI slots), its actions (start,
ACPI shutdown, power off, delete behind a confirmation page) and the new VM form (from a
template or a boot of its own, with a first vNIC, started at once or not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from plugboard.api.schemas import Name
from plugboard.api.vm_schemas import VmCreate
from plugboard.engine import templates, vms
from plugboard.errors import PlugboardError
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
from plugboard.web.vm import choices_for
from plugboard.web.vnicforms import MACVTAP_MODES, MODELS, new_vm_body

router = APIRouter(prefix="/hosts/{host}", route_class=WebRoute)


@dataclass
class VmRow:
    view: vms.VmView
    operable: bool = False  # the viewer may start and stop it (its vm-operator)
    vnics: int = field(init=False)
    active: int = field(init=False)
    ips: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.vnics = len(self.view.vnics)
        self.active = sum(1 for v in self.view.vnics if v.active)
        self.ips = [ip for v in self.view.vnics for ip in v.ips]


def _rows(who: Viewer, host: str) -> list[VmRow]:
    found = vms.list_vms(who.services.registry.get(host), who.principal, ips=True)
    return [VmRow(v, who.can_operate(host, v.name)) for v in found]


def _table(
    request: Request, who: Viewer, host: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """The VMs page, or only its table for htmx (with the problem beside its row)."""
    template = "_vms_table.html" if is_htmx(request) else "vms.html"
    return render(
        request, template, status, who=who, host=host, hosts=host_names(who), section="vms",
        rows=_rows(who, host), **context,
    )  # fmt: skip


@router.get("/vms", response_class=HTMLResponse, include_in_schema=False)
def vms_page(request: Request, who: Who, host: Name) -> HTMLResponse:
    return _table(request, who, host)


# --- delete ----------------------------------------------------------------------------------
def _delete_page(
    request: Request, who: Viewer, host: str, vm: str, status: int = 200, **context: Any
) -> HTMLResponse:
    view = vms.get_vm(who.services.registry.get(host), who.services.store, who.principal, vm)
    return render(
        request, "vm_delete.html", status, who=who, host=host, hosts=host_names(who),
        section="vms", vm=view, **context,
    )  # fmt: skip


@router.get("/vms/{vm}/delete", response_class=HTMLResponse, include_in_schema=False)
def delete_form(request: Request, who: Who, host: Name, vm: Name) -> HTMLResponse:
    return _delete_page(request, who, host, vm)


@router.post("/vms/{vm}/delete", include_in_schema=False)
def delete(request: Request, who: Who, host: Name, vm: Name, posted: FormDep) -> Response:
    force = posted.get("force") == "on"
    try:
        check_change(request, who, posted)
        with audited(who, "DELETE /hosts/{host}/vms/{vm}", f"hosts/{host}/vms/{vm}"):
            vms.delete_vm(
                who.services.registry.get(host),
                who.services.store,
                who.principal,
                who.services.tokens,
                vm,
                force=force,
            )
    except PlugboardError as err:
        return _delete_page(request, who, host, vm, err.status, problem=Problem.of(err))
    return see_other(f"/hosts/{host}/vms", request)


# The table's actions: the API's route (for the audit log) and the engine's use case.
ACTIONS = {
    "start": ("POST /hosts/{host}/vms/{vm}/start", vms.start_vm),
    "shutdown": ("POST /hosts/{host}/vms/{vm}/shutdown", vms.shutdown_vm),
    "destroy": ("POST /hosts/{host}/vms/{vm}/destroy", vms.destroy_vm),
}


def _act(action: str) -> Any:
    route, use_case = ACTIONS[action]

    def act(request: Request, who: Who, host: Name, vm: Name, posted: FormDep) -> Response:
        try:
            check_change(request, who, posted)
            with audited(who, route, f"hosts/{host}/vms/{vm}"):
                use_case(who.services.registry.get(host), who.services.store, who.principal, vm)
        except PlugboardError as err:
            return _table(request, who, host, err.status, problem=Problem.of(err), problem_for=vm)
        return _table(request, who, host)

    return act


# One route per action (a catch-all /vms/{vm}/{action} would also take the VM page's
# /vms/{vm}/nics).
for _action in ACTIONS:
    router.add_api_route(
        f"/vms/{{vm}}/{_action}", _act(_action), methods=["POST"], include_in_schema=False
    )


# --- create ----------------------------------------------------------------------------------
def _new(
    request: Request, who: Viewer, host: str, status: int = 200, **context: Any
) -> HTMLResponse:
    with who.services.store.session() as db:
        names = [t.name for t in templates.list_templates(db)]
    choices = choices_for(who, host, None)
    asked = context.pop("asked", None)
    return render(
        request, "vm_new.html", status, who=who, host=host, hosts=host_names(who),
        section="vms", templates=names, choices=choices, models=MODELS,
        macvtap_modes=MACVTAP_MODES, asked=asked or (choices.new_vnic if choices else {}),
        first=asked is None, **context,
    )  # fmt: skip


@router.get("/new-vm", response_class=HTMLResponse, include_in_schema=False)
def new_form(request: Request, who: Who, host: Name) -> HTMLResponse:
    return _new(request, who, host)


@router.post("/new-vm", include_in_schema=False)
def create(request: Request, who: Who, host: Name, posted: FormDep) -> Response:
    """The API's POST /hosts/{host}/vms (?start=true when "Start it" is ticked): nothing
    half-made stays behind a refusal, which is shown in the form with what was typed."""
    try:
        check_change(request, who, posted)
        body = VmCreate.model_validate(new_vm_body(posted))
        svc = who.services
        target = f"hosts/{host}/vms/{body.name}"
        with audited(who, "POST /hosts/{host}/vms", target), svc.store.session() as db:
            vms.create_vm(
                db, svc.store, svc.registry, svc.registry.get(host), who.principal, svc.tokens,
                body.request(),
                start=posted.get("start") == "on",
            )  # fmt: skip
    except PlugboardError as err:
        return _new(request, who, host, err.status, problem=Problem.of(err), asked=dict(posted))
    except ValidationError as err:
        return _new(request, who, host, 422, problem=Problem.invalid(err), asked=dict(posted))
    return see_other(f"/hosts/{host}/vms/{body.name}", request)
