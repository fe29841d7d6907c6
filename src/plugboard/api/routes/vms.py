"""VMs of a host and their vNICs: /api/v1/hosts/{host}/vms[/{vm}/nics[/{nic}]]."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from plugboard.api.deps import (
    AuditedVnic,
    CurrentUser,
    DbSession,
    HostDep,
    IfMatch,
    ServicesDep,
    StoreDep,
    audit_detail,
    audit_target,
)
from plugboard.api.problems import responses
from plugboard.api.schemas import Name
from plugboard.api.vm_schemas import (
    VmCreate,
    VmCreatedOut,
    VmOut,
    VmSummaryOut,
    VmUpdate,
    VnicChangeOut,
    VnicCreate,
    VnicName,
    VnicOut,
    VnicUpdate,
    deprecation_notes,
    vnic_fields_from,
)
from plugboard.engine import vms, vnics
from plugboard.vnic import VnicEdit

# The routes' function names are the API's operationIds: they stay as published.
router = APIRouter(
    prefix="/hosts/{host}/vms", tags=["vms"], responses=responses(400, 401, 404, 422, 502)
)


def _unchecked(request: Request, hosts: list[str]) -> None:
    """The audit log says which hosts a new MAC could not be checked on."""
    if hosts:
        audit_detail(request, f"MAC not checked on unreachable hosts: {', '.join(hosts)}")


# --- VMs -------------------------------------------------------------------------------------
@router.get("", summary="List every VM on the host (also those made with virsh)")
def list_vms(host: HostDep, who: CurrentUser) -> list[VmSummaryOut]:
    return [VmSummaryOut.from_view(v) for v in vms.list_vms(host, who)]


@router.post(
    "",
    status_code=201,
    summary="Create a VM with vNICs (from a template or not)",
    responses=responses(403, 409),
)
def create_vm(
    *,
    host: HostDep,
    body: VmCreate,
    request: Request,
    response: Response,
    svc: ServicesDep,
    db: DbSession,
    who: CurrentUser,
    start: Annotated[bool, Query(description="Start it too")] = False,
) -> VmCreatedOut:
    audit_target(request, f"hosts/{host.name}/vms/{body.name}")
    created = vms.create_vm(
        db, svc.store, svc.registry, host, who, svc.tokens, body.request(), start=start
    )
    _unchecked(request, created.unchecked_hosts)
    response.headers["Location"] = f"{request.url.path}/{body.name}"
    return VmCreatedOut.from_created(created)


@router.get("/{vm}", summary="One VM with its vNICs")
def get_vm(host: HostDep, vm: Name, store: StoreDep, who: CurrentUser) -> VmOut:
    return VmOut.from_view(vms.get_vm(host, store, who, vm))


@router.patch(
    "/{vm}",
    summary="Change the VM (its free PCI slots for hot-plugged cards)",
    responses=responses(403, 409, 422),
)
def patch_vm(host: HostDep, vm: Name, body: VmUpdate, store: StoreDep, who: CurrentUser) -> VmOut:
    return VmOut.from_view(vms.set_hotplug_slots(host, store, who, vm, body.hotplug_slots))


@router.post("/{vm}/start", summary="Start the VM", responses=responses(403, 409))
def start_vm(host: HostDep, vm: Name, store: StoreDep, who: CurrentUser) -> VmSummaryOut:
    return VmSummaryOut.from_view(vms.start_vm(host, store, who, vm))


@router.post("/{vm}/shutdown", summary="Ask the guest to power off", responses=responses(403, 409))
def shutdown_vm(host: HostDep, vm: Name, store: StoreDep, who: CurrentUser) -> VmSummaryOut:
    return VmSummaryOut.from_view(vms.shutdown_vm(host, store, who, vm))


@router.post("/{vm}/destroy", summary="Power the VM off now", responses=responses(403, 409))
def destroy_vm(host: HostDep, vm: Name, store: StoreDep, who: CurrentUser) -> VmSummaryOut:
    return VmSummaryOut.from_view(vms.destroy_vm(host, store, who, vm))


@router.delete("/{vm}", status_code=204, summary="Delete the VM", responses=responses(403, 409))
def delete_vm(
    host: HostDep,
    vm: Name,
    svc: ServicesDep,
    who: CurrentUser,
    force: Annotated[bool, Query(description="Power off a running VM first")] = False,
) -> Response:
    vms.delete_vm(host, svc.store, who, svc.tokens, vm, force=force)
    return Response(status_code=204)


# --- vNICs -----------------------------------------------------------------------------------
@router.get("/{vm}/nics", summary="The VM's vNICs, plugged and unplugged")
def list_vnics(host: HostDep, vm: Name, store: StoreDep, who: CurrentUser) -> list[VnicOut]:
    return [VnicOut.from_state(v) for v in vnics.list_vnics(host, store, who, vm)]


@router.post(
    "/{vm}/nics",
    status_code=201,
    summary="Add a vNIC (hot-plugged when the VM runs and it is plugged)",
    responses=responses(403, 409),
)
def add_vnic(
    *,
    host: HostDep,
    vm: Name,
    body: VnicCreate,
    request: Request,
    response: Response,
    svc: ServicesDep,
    who: CurrentUser,
) -> VnicChangeOut:
    with AuditedVnic(request, "add", body.name, body) as audited:
        change = audited.done(
            vnics.add_vnic(
                host,
                svc.registry,
                svc.store,
                who,
                vm,
                vnic_fields_from(body, only_set=False),
                hotunplug_timeout=svc.settings.hotunplug_timeout,
            )
        )
    assert change.vnic is not None
    name = change.vnic.vnic.name
    audit_target(request, f"hosts/{host.name}/vms/{vm}/nics/{name}")
    response.headers["Location"] = f"{request.url.path}/{name}"
    response.headers["ETag"] = change.vnic.etag
    return VnicChangeOut.from_change(change, deprecation_notes(body))


@router.get("/{vm}/nics/{nic}", summary="One vNIC (with its ETag)")
def get_vnic(
    host: HostDep, vm: Name, nic: VnicName, response: Response, store: StoreDep, who: CurrentUser
) -> VnicOut:
    state = vnics.get_vnic(host, store, who, vm, nic)
    response.headers["ETag"] = state.etag
    return VnicOut.from_state(state)


@router.patch(
    "/{vm}/nics/{nic}",
    summary="Change a vNIC: re-wire, link, plug, MAC, model, QoS (live on a running VM)",
    responses=responses(403, 409, 412, 504),
    response_model=VnicChangeOut,
)
async def patch_vnic(
    *,
    host: HostDep,
    vm: Name,
    nic: VnicName,
    body: VnicUpdate,
    request: Request,
    svc: ServicesDep,
    who: CurrentUser,
    if_match: IfMatch = None,
    dry_run: Annotated[bool, Query(description="Only show the plan")] = False,
) -> Response:
    # Async, no database session unless a MAC changes: a re-wire goes from the event loop
    # straight to the host's threads (its latency is what users feel).
    change_request = vnics.VnicChangeRequest(
        vm,
        nic,
        VnicEdit(vnic_fields_from(body, only_set=True)),
        who,
        if_match=if_match,
        dry_run=dry_run,
        hotunplug_timeout=svc.settings.hotunplug_timeout,
    )
    with AuditedVnic(request, "change", nic, body, dry_run=dry_run) as audited:
        change = audited.done(
            await vnics.change_vnic_async(host, svc.registry, svc.store, change_request)
        )
    headers = {"ETag": change.vnic.etag} if change.vnic is not None else {}
    # Built from plugboard's own values, without a second validation.
    out = VnicChangeOut.from_change(change, deprecation_notes(body))
    return JSONResponse(out.model_dump(mode="json"), headers=headers)


@router.delete(
    "/{vm}/nics/{nic}",
    status_code=204,
    summary="Remove a vNIC (the VM is stopped, or the vNIC unplugged)",
    responses=responses(403, 409, 412),
)
def delete_vnic(
    host: HostDep,
    vm: Name,
    nic: VnicName,
    request: Request,
    store: StoreDep,
    who: CurrentUser,
    if_match: IfMatch = None,
) -> Response:
    with AuditedVnic(request, "remove", nic) as audited:
        audited.done(vnics.remove_vnic(host, store, who, vm, nic, if_match=if_match))
    return Response(status_code=204)
