"""A vNIC's port mirroring: /api/v1/hosts/{host}/vms/{vm}/nics/{nic}/mirroring (apart from the
vNIC's PATCH: switching it never touches the card)."""

from fastapi import APIRouter, Request

from plugboard.api.deps import CurrentUser, HostDep, StoreDep, audit_detail
from plugboard.api.mirroring_schemas import MirroringOut, MirroringUpdate, described
from plugboard.api.problems import responses
from plugboard.api.schemas import Name
from plugboard.api.vm_schemas import VnicName
from plugboard.engine import mirroring

router = APIRouter(
    prefix="/hosts/{host}/vms", tags=["vms"], responses=responses(400, 401, 404, 422, 502)
)


@router.get("/{vm}/nics/{nic}/mirroring", summary="A vNIC's port mirroring, and what carries it")
def get_mirroring(host: HostDep, vm: Name, nic: VnicName, who: CurrentUser) -> MirroringOut:
    return MirroringOut.from_view(mirroring.get_mirroring(host, who, vm, nic))


@router.put(
    "/{vm}/nics/{nic}/mirroring",
    summary="Switch a vNIC's port mirroring on or off, live (no unplug)",
    responses=responses(403, 409),
)
def set_mirroring(
    host: HostDep,
    vm: Name,
    nic: VnicName,
    body: MirroringUpdate,
    request: Request,
    store: StoreDep,
    who: CurrentUser,
) -> MirroringOut:
    change = mirroring.set_mirroring(
        host, store, who, vm, nic, body.port_mirroring, list(body.mirror_of)
    )
    audit_detail(request, described(change))
    request.state.audit_data = {
        "before": {
            "port_mirroring": change.before.port_mirroring,
            "mirror_of": list(change.before.mirror_of),
        },
        "after": body.model_dump(mode="json"),
        "applied": change.view.applied,
        "notes": change.view.notes,
    }
    return MirroringOut.from_view(change.view)
