"""Sign in with an API token, sign out."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from plugboard.api.deps import Services
from plugboard.engine.tokens import Principal, authenticate, hash_token
from plugboard.errors import Forbidden, PlugboardError, Unauthorized
from plugboard.web.core import (
    CSRF_FIELD,
    FormDep,
    Problem,
    WebRoute,
    Who,
    render,
    sessions_of,
)
from plugboard.web.sessions import COOKIE, SIGN_IN_COOKIE

router = APIRouter(route_class=WebRoute)


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    """HttpOnly, SameSite=Strict, and Secure when the request came over TLS (directly, or
    through a local proxy that uvicorn trusts for X-Forwarded-Proto)."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _safe_next(target: str | None) -> str:
    """Only a path of this service: never an open redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/hosts"


def _sign_in_page(
    request: Request, problem: Problem | None = None, status: int = 200, going: str | None = None
) -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status,
        csrf=csrf,
        next=_safe_next(going or request.query_params.get("next")),
        problem=problem,
    )
    _cookie(request, response, SIGN_IN_COOKIE, csrf)
    return response


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
def sign_in_form(request: Request) -> HTMLResponse:
    return _sign_in_page(request)


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request, posted: FormDep) -> Response:
    svc: Services = request.app.state.services
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = posted.get(CSRF_FIELD, "")
    try:
        if not (expected and hmac.compare_digest(expected.encode(), sent.encode())):
            raise Forbidden(
                "the sign-in form's CSRF token is missing or does not match; reload the "
                "page and sign in again"
            )
        await run_in_threadpool(_check_token, svc, posted.text("token"))
    except PlugboardError as err:
        return _sign_in_page(request, Problem.of(err), err.status, posted.get("next"))
    session_id, _ = sessions_of(request).open(hash_token(posted.text("token")))
    response = RedirectResponse(_safe_next(posted.get("next")), status_code=303)
    _cookie(request, response, COOKIE, session_id)
    response.delete_cookie(SIGN_IN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _check_token(svc: Services, secret: str) -> Principal:
    if not secret:
        raise Unauthorized("paste an API token: the admin token is in ~/.config/plugboard/token")
    with svc.store.session() as db:
        return authenticate(db, secret)


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request, who: Who, posted: FormDep) -> Response:
    sent = posted.get(CSRF_FIELD) or request.headers.get("x-csrf-token")
    if not who.session.csrf_ok(sent):
        return render(
            request,
            "error.html",
            403,
            who=who,
            problem=Problem.of(
                Forbidden("the form's CSRF token is missing or wrong; not signed out")
            ),
        )
    sessions_of(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
