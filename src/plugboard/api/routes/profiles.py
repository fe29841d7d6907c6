"""vNIC profiles: /api/v1/profiles. Changing one reaches every vNIC wired through it."""

from fastapi import APIRouter, Query, Request, Response

from plugboard.api.deps import API_PREFIX, CurrentUser, DbSession, ServicesDep, audit_target
from plugboard.api.problems import responses
from plugboard.api.profile_schemas import (
    ProfileChangeOut,
    ProfileCreate,
    ProfileOut,
    ProfileUpdate,
)
from plugboard.api.schemas import Name
from plugboard.engine import profile_rollout, profiles

router = APIRouter(prefix="/profiles", tags=["profiles"], responses=responses(400, 401, 422))


@router.get("", summary="List the vNIC profiles")
def list_profiles(db: DbSession, _: CurrentUser) -> list[ProfileOut]:
    return [ProfileOut.from_profile(p) for p in profiles.list_profiles(db)]


@router.post("", status_code=201, summary="Create a vNIC profile", responses=responses(403, 409))
def create_profile(
    body: ProfileCreate, db: DbSession, who: CurrentUser, request: Request, response: Response
) -> ProfileOut:
    audit_target(request, f"profiles/{body.name}")
    profile = profiles.create_profile(db, who, body.spec_for(body.name))
    response.headers["Location"] = f"{API_PREFIX}{router.prefix}/{profile.name}"
    return ProfileOut.from_profile(profile)


@router.get("/{name}", summary="One vNIC profile", responses=responses(404))
def get_profile(name: Name, db: DbSession, _: CurrentUser) -> ProfileOut:
    return ProfileOut.from_profile(profiles.get_profile(db, name))


@router.put(
    "/{name}",
    summary="Replace a vNIC profile, and bring every vNIC wired through it to it",
    description="Each vNIC wired through the profile, on every reachable host, gets the "
    "change: one live update where libvirt allows it (the card keeps its slot), an unplug and "
    "plug into the same slot where it does not; a vNIC that fails is undone alone. The answer "
    "lists each vNIC's outcome. With dry_run, each vNIC's plan, and nothing changes.",
    responses=responses(403, 404),
)
def replace_profile(
    name: Name,
    body: ProfileUpdate,
    svc: ServicesDep,
    who: CurrentUser,
    request: Request,
    dry_run: bool = Query(False, description="Plan each vNIC's change; change nothing"),
) -> ProfileChangeOut:
    change = profile_rollout.update_profile(
        svc.store,
        svc.registry,
        who,
        body.spec_for(name),
        dry_run=dry_run,
        hotunplug_timeout=svc.settings.hotunplug_timeout,
    )
    if dry_run:
        request.state.audit_result = "dry-run"
    return ProfileChangeOut.from_change(change, applied=not dry_run)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a vNIC profile no vNIC is wired through",
    responses=responses(403, 404, 409),
)
def delete_profile(name: Name, db: DbSession, svc: ServicesDep, who: CurrentUser) -> Response:
    profiles.delete_profile(db, svc.registry, who, name)
    return Response(status_code=204)
