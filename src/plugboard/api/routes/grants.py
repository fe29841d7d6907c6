"""Grants, a user's role on a host, a VM or a network: /api/v1/grants."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from plugboard.api.deps import API_PREFIX, CurrentUser, DbSession, ServicesDep, audit_target
from plugboard.api.problems import responses
from plugboard.api.schemas import GrantCreate, GrantObject, GrantOut, Name
from plugboard.engine import grants

router = APIRouter(prefix="/grants", tags=["users"], responses=responses(400, 401, 422))
ROLES = (
    "`network-user` on hosts/H/networks/N may see the network and wire vNICs to it; "
    "`vm-viewer` on hosts/H/vms/V may see the VM and its vNICs; `vm-operator` may also start "
    "and stop it and change its vNICs; `host-admin` on hosts/H may do everything on the host."
)


@router.get("", summary="List grants (an admin: all; a user: their own)")
def list_grants(
    db: DbSession,
    who: CurrentUser,
    user: Annotated[Name | None, Query(description="Only this user's")] = None,
    object: Annotated[GrantObject | None, Query(description="This object and below")] = None,
) -> list[GrantOut]:
    return [GrantOut.from_view(g) for g in grants.list_grants(db, who, user=user, obj=object)]


@router.post(
    "",
    status_code=201,
    summary="Grant a user a role on an object",
    description=ROLES + " The host must be known; the VM or network need not exist yet.",
    responses=responses(403, 404, 409),
)
def add_grant(
    body: GrantCreate,
    db: DbSession,
    svc: ServicesDep,
    who: CurrentUser,
    request: Request,
    response: Response,
) -> GrantOut:
    audit_target(request, f"users/{body.user}/grants")
    grant = grants.add_grant(db, svc.tokens, who, body.user, body.role, body.object)
    response.headers["Location"] = f"{API_PREFIX}{router.prefix}/{grant.id}"
    return GrantOut.from_view(grant)


@router.delete(
    "/{grant_id}",
    status_code=204,
    summary="Revoke a grant (from the user's next request)",
    responses=responses(403, 404),
)
def revoke_grant(
    grant_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    db: DbSession,
    svc: ServicesDep,
    who: CurrentUser,
    request: Request,
) -> Response:
    gone = grants.revoke_grant(db, svc.tokens, who, grant_id)
    audit_target(request, f"users/{gone.user}/grants")
    return Response(status_code=204)
