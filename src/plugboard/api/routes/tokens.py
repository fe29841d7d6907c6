from fastapi import APIRouter, Request, Response

from plugboard.api.deps import API_PREFIX, Admin, DbSession, ServicesDep, audit_target
from plugboard.api.problems import responses
from plugboard.api.schemas import Name, TokenCreate, TokenCreatedOut, TokenOut
from plugboard.engine import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"], responses=responses(400, 401, 403, 422))


@router.get("", summary="List tokens (never their secrets)")
def list_tokens(db: DbSession, _: Admin) -> list[TokenOut]:
    return [TokenOut.from_token(t, user) for t, user in tokens.list_tokens(db)]


@router.post(
    "",
    status_code=201,
    summary="Create a token; its secret is shown this once",
    description="For `user` (by default the caller), with a role no more than theirs (else "
    "422). 404 `USER_NOT_FOUND` for an unknown user.",
    responses=responses(404, 409),
)
def create_token(
    body: TokenCreate, db: DbSession, who: Admin, request: Request, response: Response
) -> TokenCreatedOut:
    audit_target(request, f"tokens/{body.name}")
    user = body.user or who.user
    token, secret = tokens.create_token(db, body.name, body.role, user)
    response.headers["Location"] = f"{API_PREFIX}{router.prefix}/{token.name}"
    return TokenCreatedOut(**TokenOut.from_token(token, user).model_dump(), token=secret)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Revoke a token (it stays listed, with revoked_at)",
    description="The last admin token that is not revoked is kept: 409 `LAST_ADMIN_TOKEN`.",
    responses=responses(404, 409),
)
def revoke_token(name: Name, db: DbSession, svc: ServicesDep, _: Admin) -> Response:
    tokens.revoke_token(db, svc.tokens, name)
    return Response(status_code=204)
