"""What every page shares: templates, who is looking (the session), forms and their CSRF
token, problems shown in the page, and the audit record of each change made from a page."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from plugboard.api.deps import Services
from plugboard.api.problems import validation_detail
from plugboard.api.text import check_document
from plugboard.engine import audit, hosts, policy, users
from plugboard.engine.tokens import Principal, authenticate_hash
from plugboard.errors import Forbidden, InvalidInput, PlugboardError, Unauthorized
from plugboard.web.sessions import COOKIE, SessionStore, WebSession

templates = Environment(
    loader=PackageLoader("plugboard.web"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# A host's pages, in the navigation's order: (path under /hosts/NAME/, label).
HOST_SECTIONS: list[tuple[str, str]] = [
    ("networks", "Networks"),
    ("vms", "VMs"),
    ("interfaces", "Interfaces"),
]


class SignInRequired(Exception):
    """No session, or its token is no longer good: the page sends the browser to sign in."""


@dataclass(frozen=True)
class Problem:
    """A refusal as the page shows it: the API's problem, title, detail and code."""

    title: str
    detail: str
    code: str
    status: int
    errors: list[dict[str, str]] | None = None
    extra: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, err: PlugboardError) -> Problem:
        errors = (
            [{"field": err.extra["field"], "message": err.detail}] if "field" in err.extra else None
        )
        return cls(err.title, err.detail, err.code, err.status, errors, err.extra)

    @classmethod
    def invalid(cls, err: ValidationError) -> Problem:
        """A form refused by the API's own schema, in the words of the API's 422."""
        errors = [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                  for e in err.errors()]  # fmt: skip
        return cls("Invalid input.", validation_detail(errors), "VALIDATION_ERROR", 422, errors)


@dataclass
class Viewer:
    """Who is looking at a page: their principal (a token's, or a user's signed in with a
    password) and the web session."""

    principal: Principal
    session: WebSession
    services: Services

    @property
    def is_admin(self) -> bool:
        """May change what is plugboard's own: hosts, templates, users."""
        return self.principal.is_admin

    def can(self, action: str, obj: str) -> bool:
        """What the page offers follows the policy (plugboard.engine.policy); the engine
        checks it again whatever is posted."""
        return policy.can(self.principal, policy.Action(action), obj)

    def can_manage(self, host: str) -> bool:
        """May define networks and create and delete VMs on the host (a host-admin)."""
        return self.can("manage", policy.host_object(host))

    def can_operate(self, host: str, vm: str) -> bool:
        """May start and stop the VM and change its vNICs (its vm-operator)."""
        return self.can("operate", policy.vm_object(host, vm))

    @property
    def csrf(self) -> str:
        return self.session.csrf


def sessions_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.web_sessions
    return store


async def viewer(request: Request) -> Viewer:
    svc: Services = request.app.state.services
    session = sessions_of(request).get(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired
    try:
        who = await run_in_threadpool(_principal, svc, session)
    except Unauthorized:
        sessions_of(request).close(request.cookies.get(COOKIE))
        raise SignInRequired from None
    request.state.actor, request.state.via = who.name, who.via
    return Viewer(who, session, svc)


def _principal(svc: Services, session: WebSession) -> Principal:
    with svc.store.session() as db:
        if session.user_id is not None:
            return users.session_principal(db, session.user_id)
        return authenticate_hash(db, session.token_hash or "")


Who = Annotated[Viewer, Depends(viewer)]


class Form(dict[str, str]):
    """A form post (application/x-www-form-urlencoded), each field's last value, stripped."""

    def text(self, name: str) -> str:
        return self.get(name, "").strip()


async def form(request: Request) -> Form:
    raw = await request.body()
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        pairs = []
    return Form(pairs)


FormDep = Annotated[Form, Depends(form)]


def check_change(request: Request, who: Viewer, posted: Form) -> None:
    """A change from a page: its form's CSRF token matches the session's, and its fields
    are text as any API body's. Who may make it is the engine's to say (its policy)."""
    sent = posted.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not who.session.csrf_ok(sent):
        raise Forbidden(
            "the form's CSRF token is missing or not this session's; nothing was changed. "
            "Reload the page and try again"
        )
    check_document(dict(posted))  # no control characters, as in every API body


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, template: str, status: int = 200, who: Viewer | None = None, **context: Any
) -> HTMLResponse:
    page = templates.get_template(template).render(
        request=request,
        who=who,
        host_sections=HOST_SECTIONS,
        csrf_field=CSRF_FIELD,
        **context,
    )
    return HTMLResponse(page, status_code=status)


def see_other(url: str, request: Request) -> Response:
    """After a change: a plain form goes to the page (303); an htmx one is told where to."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def sign_in_url(request: Request) -> str:
    back = request.url.path if request.method == "GET" else "/hosts"
    return f"/sign-in?next={quote(back, safe='/')}"


@contextmanager
def audited(who: Viewer, action: str, target: str) -> Iterator[None]:
    """Record a change made from a page in the audit log, as the API's middleware records
    one made over the API (who, what, target, outcome, duration), marked `(web)`."""
    started = time.perf_counter()
    status, result, detail = 200, "ok", None
    try:
        yield
    except PlugboardError as err:
        status, result, detail = err.status, err.code, err.detail
        raise
    finally:
        with who.services.store.session() as db:
            audit.record(
                db,
                actor=who.principal.name,
                via=who.principal.via,
                action=f"{action} (web)",
                target=target,
                status=status,
                result=result,
                detail=detail,
                duration_ms=(time.perf_counter() - started) * 1000,
            )


def invalid(detail: str, field: str) -> InvalidInput:
    return InvalidInput(detail, field=field)


class WebRoute(APIRoute):
    """A page's route: a refusal it does not show itself (a host or network that is not
    there, a host that is down) becomes an error page in the layout, not the API's JSON; no
    session sends the browser to sign in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if is_htmx(request):
                    return Response(status_code=401, headers={"HX-Redirect": sign_in_url(request)})
                return RedirectResponse(sign_in_url(request), status_code=303)
            except PlugboardError as err:
                who = await _viewer_or_none(request)
                hosts = host_names_of(who) if who is not None else []
                return render(
                    request, "error.html", err.status, who=who, hosts=hosts, problem=Problem.of(err)
                )

        return handle


async def _viewer_or_none(request: Request) -> Viewer | None:
    """Who is signed in, for an error page's header and navigation (None: nobody is)."""
    try:
        return await viewer(request)
    except (SignInRequired, PlugboardError):
        return None


def host_names_of(who: Viewer) -> list[str]:
    """The names of the hosts `who` may see, for the header's host switcher."""
    with who.services.store.session() as db:
        found = hosts.list_hosts(db, who.services.registry, who.principal)
    return [h.name for h in found]
