from fastapi import APIRouter, Request, Response

from plugboard.api.deps import API_PREFIX, CurrentUser, DbSession, ServicesDep, audit_target
from plugboard.api.problems import responses
from plugboard.api.schemas import HostCreate, HostOut, HostUpdate, Name
from plugboard.engine import hosts

router = APIRouter(prefix="/hosts", tags=["hosts"], responses=responses(400, 401, 422))


@router.get("", summary="List hosts with their connection state")
def list_hosts(db: DbSession, svc: ServicesDep, who: CurrentUser) -> list[HostOut]:
    return [HostOut.from_view(v) for v in hosts.list_hosts(db, svc.registry, who)]


@router.post("", status_code=201, summary="Register a host", responses=responses(403, 409))
def add_host(
    body: HostCreate,
    db: DbSession,
    svc: ServicesDep,
    who: CurrentUser,
    request: Request,
    response: Response,
) -> HostOut:
    audit_target(request, f"hosts/{body.name}")
    created = hosts.add_host(db, svc.registry, who, body.name, body.uri, body.domain_type)
    response.headers["Location"] = f"{API_PREFIX}{router.prefix}/{created.name}"
    return HostOut.from_view(created)


@router.get(
    "/{host}",
    summary="One host; connects to it if it is not connected yet",
    responses=responses(404),
)
def get_host(host: Name, db: DbSession, svc: ServicesDep, who: CurrentUser) -> HostOut:
    return HostOut.from_view(hosts.get_host(db, svc.registry, who, host))


@router.patch(
    "/{host}", summary="Change a host's URI or domain type", responses=responses(403, 404)
)
def patch_host(
    host: Name, body: HostUpdate, db: DbSession, svc: ServicesDep, who: CurrentUser
) -> HostOut:
    return HostOut.from_view(
        hosts.update_host(
            db, svc.registry, who, host, **body.model_dump(exclude_unset=True, exclude_none=True)
        )
    )


@router.delete(
    "/{host}",
    status_code=204,
    summary="Forget a host (nothing on it changes)",
    responses=responses(403, 404),
)
def remove_host(host: Name, db: DbSession, svc: ServicesDep, who: CurrentUser) -> Response:
    hosts.remove_host(db, svc.registry, who, svc.tokens, host)
    return Response(status_code=204)
