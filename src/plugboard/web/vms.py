"""A host's VMs: the table (state, vNICs, addresses, free PCI slots) and its actions (start,
ACPI shutdown, power off, delete behind a confirmation page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from plugboard.api.schemas import Name
from plugboard.engine import vms
from plugboard.errors import InvalidInput, PlugboardError
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

router = APIRouter(prefix="/hosts/{host}", route_class=WebRoute)


@dataclass
class VmRow:
    view: vms.VmView
    vnics: int = field(init=False)
    active: int = field(init=False)
    ips: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.vnics = len(self.view.vnics)
        self.active = sum(1 for v in self.view.vnics if v.active)
        self.ips = [ip for v in self.view.vnics for ip in v.ips]


def _rows(who: Viewer, host: str) -> list[VmRow]:
    return [VmRow(v) for v in vms.list_vms(who.services.registry.get(host), ips=True)]


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
    view = vms.get_vm(who.services.registry.get(host), who.services.store, vm)
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
            vms.delete_vm(who.services.registry.get(host), who.services.store, vm, force=force)
    except PlugboardError as err:
        return _delete_page(request, who, host, vm, err.status, problem=Problem.of(err))
    return see_other(f"/hosts/{host}/vms", request)


# The table's actions: the API's route (for the audit log) and the engine's use case.
ACTIONS = {
    "start": ("POST /hosts/{host}/vms/{vm}/start", vms.start_vm),
    "shutdown": ("POST /hosts/{host}/vms/{vm}/shutdown", vms.shutdown_vm),
    "destroy": ("POST /hosts/{host}/vms/{vm}/destroy", vms.destroy_vm),
}


@router.post("/vms/{vm}/{action}", include_in_schema=False)
def act(request: Request, who: Who, host: Name, vm: Name, action: str, posted: FormDep) -> Response:
    try:
        check_change(request, who, posted)
        if action not in ACTIONS:
            raise InvalidInput(f"'{action}' is not one of {', '.join(sorted(ACTIONS))}")
        route, use_case = ACTIONS[action]
        with audited(who, route, f"hosts/{host}/vms/{vm}"):
            use_case(who.services.registry.get(host), who.services.store, vm)
    except PlugboardError as err:
        return _table(request, who, host, err.status, problem=Problem.of(err), problem_for=vm)
    return _table(request, who, host)
