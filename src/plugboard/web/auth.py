"""Sign in with a username and password or with an API token, sign out. Failed sign-ins
are throttled per client address and per username (plugboard.engine.throttle) and recorded
in the audit log, as are the sign-ins that succeed."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plugboard.api.deps import Services
from plugboard.engine import audit, users
from plugboard.engine.throttle import Throttle
from plugboard.engine.tokens import Principal, authenticate, hash_token, token_label
from plugboard.errors import Forbidden, PlugboardError, TooManyRequests, Unauthorized
from plugboard.names import NAME_REGEX
from plugboard.web.core import (
    CSRF_FIELD,
    Form,
    FormDep,
    Problem,
    WebRoute,
    Who,
    render,
    sessions_of,
)
from plugboard.web.sessions import COOKIE, SIGN_IN_COOKIE

router = APIRouter(route_class=WebRoute)
_NAME = re.compile(NAME_REGEX)


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
    attempt = Attempt.of(request, posted)
    try:
        if not (expected and hmac.compare_digest(expected.encode(), sent.encode())):
            raise Forbidden(
                "the sign-in form's CSRF token is missing or does not match; reload the "
                "page and sign in again"
            )
        who = await run_in_threadpool(_signed_in, svc, attempt, _throttle(request))
    except PlugboardError as err:
        page = _sign_in_page(request, Problem.of(err), err.status, posted.get("next"))
        if isinstance(err, TooManyRequests):
            page.headers["Retry-After"] = str(err.retry_after)
        return page
    sessions = sessions_of(request)
    sessions.close(request.cookies.get(COOKIE))  # the id the browser had is worth nothing now
    if attempt.token:
        session_id, _ = sessions.open(token_hash=hash_token(attempt.token))
    else:
        session_id, _ = sessions.open(user_id=who.user_id)
    response = RedirectResponse(_safe_next(posted.get("next")), status_code=303)
    _cookie(request, response, COOKIE, session_id)
    response.delete_cookie(SIGN_IN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@dataclass(frozen=True)
class Attempt:
    """A sign-in as posted: a token, or a username and password; and where it came from."""

    token: str
    username: str
    password: str = field(repr=False)
    address: str

    @classmethod
    def of(cls, request: Request, posted: Form) -> Attempt:
        address = request.client.host if request.client else "unknown"
        return cls(posted.text("token"), posted.text("username"), posted.get("password", ""),
                   address)  # fmt: skip

    @property
    def keys(self) -> list[str]:
        """What failures count against: the client's address, and the username asked for."""
        keys = [f"address:{self.address}"]
        if not self.token and self.username:
            keys.append(f"user:{self.username}")
        return keys

    @property
    def named(self) -> bool:
        """A username and password were tried, the username a valid name."""
        return not self.token and _NAME.fullmatch(self.username) is not None

    @property
    def who(self) -> str:
        """Who tried, as the audit log names them (never a password or token): the user."""
        if self.token:
            return "a token"
        return self.username if self.named else "an invalid username"


def _throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.sign_in_throttle
    return throttle


def _signed_in(svc: Services, attempt: Attempt, throttle: Throttle) -> Principal:
    """Who signs in; every failure and refusal counted and in the audit log."""
    started = time.perf_counter()
    try:
        wait = throttle.retry_after(*attempt.keys)
        if wait is not None:
            raise TooManyRequests(
                f"too many failed sign-ins from this address or for this user; try again in "
                f"{wait} s",
                retry_after=wait,
            )
        try:
            with svc.store.session() as db:
                who = _check(db, attempt)
        except Unauthorized:
            throttle.failed(*attempt.keys)
            raise
    except PlugboardError as err:
        _record(svc, attempt, started, err)
        raise
    throttle.forgive(f"user:{who.user}")
    _record(svc, attempt, started)
    return who


def _check(db: Session, attempt: Attempt) -> Principal:
    if attempt.token:
        return authenticate(db, attempt.token)
    if not attempt.username or not attempt.password:
        raise Unauthorized(
            "give your username and password, or an API token: the admin token is in "
            "~/.config/plugboard/token"
        )
    return users.sign_in(db, attempt.username, attempt.password)


def _record(
    svc: Services, attempt: Attempt, started: float, err: PlugboardError | None = None
) -> None:
    """A sign-in in the audit log: who tried, from where, how it ended."""
    with svc.store.session() as db:
        label = token_label(db, attempt.token) if attempt.token else attempt.who
        audit.record(
            db,
            actor=label,
            via="token" if attempt.token else "password",
            action="sign-in (web)",
            target=f"users/{attempt.username}" if attempt.named else "users",
            status=err.status if err else 303,
            result=err.code if err else "ok",
            detail=f"from {attempt.address}" + (f": {err.detail}" if err else ""),
            duration_ms=(time.perf_counter() - started) * 1000,
        )


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
