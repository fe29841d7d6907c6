"""The FastAPI application: routes under /api/v1, problems, the audit of every change."""

from __future__ import annotations

import time

import libvirt
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from plugboard import __version__
from plugboard.api import problems
from plugboard.api.deps import API_PREFIX as PREFIX
from plugboard.api.deps import Services
from plugboard.api.routes import events, health, hosts, networks, tokens, vms
from plugboard.engine import audit
from plugboard.engine.hosts import load_hosts
from plugboard.engine.tokens import ensure_admin_token
from plugboard.hosts import HostRegistry
from plugboard.hosts.connection import Connector
from plugboard.settings import Settings
from plugboard.store import Store

CHANGES = {"POST", "PUT", "PATCH", "DELETE"}


def start_services(settings: Settings, connector: Connector = libvirt.open) -> Services:
    """Migrate the store, make sure an admin token exists, load the hosts."""
    store = Store(settings.database_url.get_secret_value())
    store.migrate()
    registry = HostRegistry(
        connector,
        workers=settings.host_workers,
        call_timeout=settings.host_call_timeout,
        reconnect_max_delay=settings.reconnect_max_delay,
        on_event=lambda event: audit.record_host_event(store, event),
    )
    with store.session() as db:
        ensure_admin_token(db, settings.token_file)
        load_hosts(db, registry, settings.local_uri, settings.local_domain_type)
    return Services(settings, store, registry)


def create_app(settings: Settings | None = None, connector: Connector = libvirt.open) -> FastAPI:
    """The app, with its services started (store migrated, hosts loaded). Whoever creates it
    closes them: `app.state.services.close()` (not the ASGI lifespan, which test clients and
    schemathesis run once per request)."""
    svc = start_services(settings or Settings(), connector)
    app = FastAPI(
        title="plugboard",
        version=__version__,
        description="Network wiring of virtual machines on libvirt/KVM hosts.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.services = svc
    problems.install(app)
    for module in (health, hosts, networks, vms, tokens, events):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(vms.pool_router, prefix=PREFIX)

    @app.middleware("http")
    async def audit_changes(request: Request, call_next):
        if request.method not in CHANGES or not request.url.path.startswith(PREFIX + "/"):
            return await call_next(request)
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = (time.perf_counter() - started) * 1000
        target = getattr(request.state, "audit_target", None) or request.url.path
        await run_in_threadpool(_record, svc, request, target, response.status_code, elapsed)
        return response

    return app


def _record(svc: Services, request: Request, target: str, status: int, duration_ms: float) -> None:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    state = request.state
    with svc.store.session() as db:
        audit.record(
            db,
            actor=getattr(state, "actor", "anonymous"),
            action=f"{request.method} {path.removeprefix(PREFIX)}",
            target=target.removeprefix(PREFIX).strip("/"),
            status=status,
            result="ok" if status < 400 else getattr(state, "problem_code", "ERROR"),
            detail=getattr(state, "problem_detail", None),
            duration_ms=duration_ms,
        )
