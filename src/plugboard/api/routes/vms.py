"""VMs of a host and their vNICs: /api/v1/hosts/{host}/vms[/{vm}/nics[/{nic}]]."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from plugboard.api.deps import Admin, CurrentUser, DbSession, HostDep, ServicesDep, audit_target
from plugboard.api.problems import responses
from plugboard.api.schemas import (
    Bandwidth,
    MacPoolIn,
    MacPoolOut,
    Name,
    NicName,
    OvsSource,
    VlanIn,
    VmCreate,
    VmOut,
    VmSummary,
    VnicChange,
    VnicCreate,
    VnicOut,
    VnicPatch,
)
from plugboard.engine import macpool, templates, vms, vnics
from plugboard.engine.hosts import get_host
from plugboard.errors import InvalidInput
from plugboard.vnic import Source, Vlan

router = APIRouter(
    prefix="/hosts/{host}/vms", tags=["vms"], responses=responses(400, 401, 404, 422, 502)
)
pool_router = APIRouter(prefix="/macpool", tags=["vms"], responses=responses(400, 401, 422))
IfMatch = Annotated[
    str | None, Header(description="The vNIC's ETag: change it only if nobody else has")
]


# --- conversions -----------------------------------------------------------------------------
def _source(value: BaseModel | None) -> Source | None:
    if value is None:
        return None
    return Source(**value.model_dump(exclude={"vlan", "trunk"}))


def _ovs_vlan(source: OvsSource, body: BaseModel) -> Vlan | None:
    """An OVS source's VLANs as the vNIC's VLAN (a source sent whole: none means untagged)."""
    if source.vlan is not None and source.trunk is not None:
        raise InvalidInput(
            "an Open vSwitch port is an access port (vlan) or a trunk (trunk), not both",
            field="source.trunk",
        )
    if (source.vlan is not None or source.trunk is not None) and body.vlan is not None:
        raise InvalidInput(
            "give the VLANs once: in the source (vlan or trunk) or as vlan, not both",
            field="vlan",
        )
    if source.vlan is not None:
        return Vlan((source.vlan,), False)
    if source.trunk is not None:
        return Vlan(tuple(source.trunk), True)
    return _vlan(body.vlan)


def _bandwidth(value: Bandwidth | None) -> tuple[tuple[str, int], ...]:
    if value is None:
        return ()
    pairs = []
    for direction in ("inbound", "outbound"):
        limits = getattr(value, direction)
        if limits is not None:
            pairs.extend(
                (f"{direction}.{key}", number)
                for key, number in limits.model_dump().items()
                if number is not None
            )
    return tuple(pairs)


def _vlan(value: VlanIn | None) -> Vlan | None:
    return None if value is None else Vlan(tuple(value.tags), value.trunk)


CONVERT = {"source": _source, "bandwidth": _bandwidth, "vlan": _vlan}


def vnic_fields(body: BaseModel, only_set: bool) -> dict[str, Any]:
    """The request's vNIC fields as the engine's values."""
    fields = {}
    for key in body.model_fields_set if only_set else type(body).model_fields:
        value = getattr(body, key)
        if only_set and value is None and key in ("mac", "model", "plugged", "linked"):
            raise InvalidInput(f"{key} cannot be null; leave it out to keep it", field=key)
        fields[key] = CONVERT[key](value) if key in CONVERT else value
    source = getattr(body, "source", None)
    if isinstance(source, OvsSource):
        fields["vlan"] = _ovs_vlan(source, body)
    return {k: v for k, v in fields.items() if not (k in ("mac", "name") and v is None)}


def _nic_out(nic: vnics.NicState) -> VnicOut:
    return VnicOut(**vnics.nic_json(nic))


def _vm_out(view: vms.VmView) -> VmOut:
    return VmOut(**_summary(view).model_dump(), nics=[_nic_out(n) for n in view.nics])


def _summary(view: vms.VmView) -> VmSummary:
    return VmSummary(
        **{k: getattr(view, k) for k in VmSummary.model_fields},
    )


def _change_json(result: vnics.Result, applied: bool) -> dict[str, Any]:
    return {
        "applied": applied,
        "plan": [dict(a.__dict__) for a in result.plan.actions],
        "keeps_pci_address": result.plan.keeps_pci_address,
        "vnic": vnics.nic_json(result.nic) if result.nic is not None else None,
        "notes": result.notes,
    }


def _change(result: vnics.Result, applied: bool) -> VnicChange:
    return VnicChange(**_change_json(result, applied))


# --- VMs -------------------------------------------------------------------------------------
@router.get("", summary="List every VM on the host (also those made with virsh)")
def list_vms(host: HostDep, _: CurrentUser) -> list[VmSummary]:
    return [_summary(v) for v in vms.list_vms(host)]


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
    _: Admin,
    start: Annotated[bool, Query(description="Start it too")] = False,
) -> VmOut:
    audit_target(request, f"hosts/{host.name}/vms/{body.name}")
    made = templates.get_template(db, body.template) if body.template else None
    boot = body.boot.model_dump(exclude_none=True) if body.boot else (made and made.boot)
    if boot is None:
        raise InvalidInput("boot is required when no template is given", field="boot")
    domain_type = body.domain_type or (made.domain_type if made else "auto")
    if domain_type == "auto":
        domain_type = get_host(db, svc.registry, host.name).domain_type or "qemu"
    spec = vms.VmSpec(
        name=body.name,
        memory_mib=body.memory_mib or (made.memory_mib if made else 256),
        vcpus=body.vcpus or (made.vcpus if made else 1),
        domain_type=domain_type,
        **boot,
        nics=(templates.vnic_fields(made) if made else [])
        + [vnic_fields(n, only_set=False) for n in body.nics],
    )
    view = vms.create_vm(host, svc.registry, macpool.get_pool(db), spec, start=start)
    response.headers["Location"] = f"{request.url.path}/{body.name}"
    return _vm_out(view)


@router.get("/{vm}", summary="One VM with its vNICs")
def get_vm(host: HostDep, vm: Name, _: CurrentUser) -> VmOut:
    return _vm_out(vms.get_vm(host, vm))


@router.post("/{vm}/start", summary="Start the VM", responses=responses(403, 409))
def start_vm(host: HostDep, vm: Name, _: Admin) -> VmSummary:
    return _summary(vms.start_vm(host, vm))


@router.post("/{vm}/shutdown", summary="Ask the guest to power off", responses=responses(403, 409))
def shutdown_vm(host: HostDep, vm: Name, _: Admin) -> VmSummary:
    return _summary(vms.shutdown_vm(host, vm))


@router.post("/{vm}/destroy", summary="Power the VM off now", responses=responses(403, 409))
def destroy_vm(host: HostDep, vm: Name, _: Admin) -> VmSummary:
    return _summary(vms.destroy_vm(host, vm))


@router.delete("/{vm}", status_code=204, summary="Delete the VM", responses=responses(403, 409))
def delete_vm(
    host: HostDep,
    vm: Name,
    _: Admin,
    force: Annotated[bool, Query(description="Power off a running VM first")] = False,
) -> Response:
    vms.delete_vm(host, vm, force=force)
    return Response(status_code=204)


# --- vNICs -----------------------------------------------------------------------------------
@router.get("/{vm}/nics", summary="The VM's vNICs, plugged and unplugged")
def list_nics(host: HostDep, vm: Name, _: CurrentUser) -> list[VnicOut]:
    return [_nic_out(n) for n in vnics.list_vnics(host, vm)]


@router.post(
    "/{vm}/nics",
    status_code=201,
    summary="Add a vNIC (hot-plugged when the VM runs and it is plugged)",
    responses=responses(403, 409),
)
def add_nic(
    *,
    host: HostDep,
    vm: Name,
    body: VnicCreate,
    request: Request,
    response: Response,
    svc: ServicesDep,
    db: DbSession,
    _: Admin,
) -> VnicChange:
    pool = macpool.get_pool(db)
    result = vnics.add_vnic(
        host,
        svc.registry,
        pool,
        vm,
        vnic_fields(body, only_set=False),
        unplug_timeout=svc.settings.hotunplug_timeout,
    )
    name = result.nic.vnic.name
    audit_target(request, f"hosts/{host.name}/vms/{vm}/nics/{name}")
    response.headers["Location"] = f"{request.url.path}/{name}"
    response.headers["ETag"] = result.nic.etag
    return _change(result, applied=True)


@router.get("/{vm}/nics/{nic}", summary="One vNIC (with its ETag)")
def get_nic(host: HostDep, vm: Name, nic: NicName, response: Response, _: CurrentUser) -> VnicOut:
    state = vnics.get_vnic(host, vm, nic)
    response.headers["ETag"] = state.etag
    return _nic_out(state)


@router.patch(
    "/{vm}/nics/{nic}",
    summary="Change a vNIC: re-wire, link, plug, MAC, model, QoS (live on a running VM)",
    responses=responses(403, 409, 412, 504),
    response_model=VnicChange,
)
async def patch_nic(
    *,
    host: HostDep,
    vm: Name,
    nic: NicName,
    body: VnicPatch,
    svc: ServicesDep,
    _: Admin,
    if_match: IfMatch = None,
    dry_run: Annotated[bool, Query(description="Only show the plan")] = False,
) -> Response:
    # Async, no database session unless a MAC changes: a re-wire goes from the event loop
    # straight to the host's threads (its latency is what users feel).
    fields = vnic_fields(body, only_set=True)
    pool = await run_in_threadpool(_pool, svc) if "mac" in fields else None
    request = vnics.VnicChangeRequest(
        vm,
        nic,
        vnics.Change(fields),
        if_match=if_match,
        dry_run=dry_run,
        unplug_timeout=svc.settings.hotunplug_timeout,
    )
    result = await vnics.change_vnic_async(host, svc.registry, pool, request)
    applied = not dry_run and result.plan.kinds != ("none",)
    headers = {"ETag": result.nic.etag} if result.nic is not None else {}
    # Built from the engine's own JSON: the same shape as VnicChange, without a second
    # validation of what plugboard itself made.
    return JSONResponse(_change_json(result, applied), headers=headers)


def _pool(svc) -> macpool.Pool:
    with svc.store.session() as db:
        return macpool.get_pool(db)


@router.delete(
    "/{vm}/nics/{nic}",
    status_code=204,
    summary="Remove a vNIC (the VM is stopped, or the vNIC unplugged)",
    responses=responses(403, 409, 412),
)
def delete_nic(host: HostDep, vm: Name, nic: NicName, _: Admin, if_match: IfMatch = None):
    vnics.remove_vnic(host, vm, nic, if_match=if_match)
    return Response(status_code=204)


# --- the MAC pool ----------------------------------------------------------------------------
def _pool_out(pool: macpool.Pool) -> MacPoolOut:
    return MacPoolOut(
        name=pool.name,
        ranges=[f"{a}-{b}" for a, b in pool.ranges],
        allow_duplicates=pool.allow_duplicates,
        size=pool.size,
    )


@pool_router.get("", summary="The MAC pool new vNICs take their MACs from")
def get_pool(db: DbSession, _: CurrentUser) -> MacPoolOut:
    return _pool_out(macpool.get_pool(db))


@pool_router.put("", summary="Set the MAC pool's ranges", responses=responses(403))
def set_pool(body: MacPoolIn, db: DbSession, _: Admin) -> MacPoolOut:
    return _pool_out(macpool.set_pool(db, body.ranges, body.allow_duplicates))
