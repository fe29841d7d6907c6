from fastapi import APIRouter, Request, Response

from plugboard.api.deps import API_PREFIX, Admin, DbSession, ServicesDep, audit_target
from plugboard.api.problems import responses
from plugboard.api.schemas import Name, UserCreate, UserOut, UserUpdate
from plugboard.engine import users

router = APIRouter(prefix="/users", tags=["users"], responses=responses(400, 401, 403, 422))
LAST_ADMIN = (
    "The last enabled admin user stays an enabled admin, and the last admin token stays: "
    "409 `LAST_ADMIN_USER` or `LAST_ADMIN_TOKEN`."
)


@router.get("", summary="List users (never their passwords)")
def list_users(db: DbSession, _: Admin) -> list[UserOut]:
    return [UserOut.from_view(v) for v in users.list_users(db)]


@router.post("", status_code=201, summary="Create a user", responses=responses(409))
def create_user(
    body: UserCreate, db: DbSession, _: Admin, request: Request, response: Response
) -> UserOut:
    audit_target(request, f"users/{body.username}")
    password = body.password.get_secret_value() if body.password else None
    user = users.create_user(db, body.username, password, body.role)
    response.headers["Location"] = f"{API_PREFIX}{router.prefix}/{user.username}"
    return UserOut.from_view(users.view_user(db, user))


@router.get("/{name}", summary="Read a user", responses=responses(404))
def get_user(name: Name, db: DbSession, _: Admin) -> UserOut:
    return UserOut.from_view(users.view_user(db, users.get_user(db, name)))


@router.patch(
    "/{name}",
    summary="Change a user's password, role or whether they are enabled",
    description="Demoting or disabling a user narrows or ends their tokens and web sessions "
    "from the next request. " + LAST_ADMIN,
    responses=responses(404, 409),
)
def update_user(name: Name, body: UserUpdate, db: DbSession, svc: ServicesDep, _: Admin) -> UserOut:
    password = body.password.get_secret_value() if body.password else None
    user = users.update_user(
        db, svc.tokens, name, password=password, role=body.role, enabled=body.enabled
    )
    return UserOut.from_view(users.view_user(db, user))


@router.delete(
    "/{name}",
    status_code=204,
    summary="Remove a user and their tokens",
    description="The audit log keeps what they did. " + LAST_ADMIN,
    responses=responses(404, 409),
)
def remove_user(name: Name, db: DbSession, svc: ServicesDep, _: Admin) -> Response:
    users.remove_user(db, svc.tokens, name)
    return Response(status_code=204)
