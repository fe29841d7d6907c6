"""The FastAPI application: routes under /api/v1, problems, the audit of every change."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugboard import __version__
from plugboard.api import problems
from plugboard.api.deps import API_PREFIX as PREFIX
from plugboard.api.deps import Services
from plugboard.api.limits import BoundedBodies, bearer_secret
from plugboard.api.routes import (
    events,
    grants,
    health,
    hostnet,
    hosts,
    interfaces,
    macpool,
    mirroring,
    networks,
    operations,
    profiles,
    templates,
    tokens,
    users,
    vms,
)
from plugboard.api.schemas import network_definition_schemas
from plugboard.engine import audit
from plugboard.engine.grants import forgetter
from plugboard.engine.hosts import load_hosts
from plugboard.engine.mirroring import MirrorReconciler
from plugboard.engine.reconcile import Reconciler
from plugboard.engine.tokens import TokenCache, ensure_admin_token, token_label
from plugboard.hosts.connection import Connector
from plugboard.hosts.registry import HostRegistry
from plugboard.settings import Settings
from plugboard.store import Store

CHANGES = {"POST", "PUT", "PATCH", "DELETE"}


def start_services(settings: Settings, connector: Connector | None = None) -> Services:
    """Migrate the store, make sure an admin token exists, load the hosts."""
    store = Store(settings.database_url.get_secret_value())
    store.claim()
    store.migrate()
    registry = HostRegistry(
        connector,
        workers=settings.host_workers,
        call_timeout=settings.host_call_timeout,
        reconnect_max_delay=settings.reconnect_max_delay,
        tick_interval=settings.reconcile_interval,
    )
    registry.subscribe(audit.recorder(store))
    registry.subscribe(Reconciler(store, settings.hotunplug_timeout))
    registry.subscribe(MirrorReconciler(store))
    tokens = TokenCache()
    registry.subscribe(forgetter(store, tokens))
    with store.session() as db:
        ensure_admin_token(db, settings.token_file)
        load_hosts(db, registry, settings.local_uri, settings.local_domain_type)
    for host in registry.all():  # recovery and events start with the connection
        host.start_connecting()
    return Services(settings, store, registry, tokens)


def create_app(settings: Settings | None = None, connector: Connector | None = None) -> FastAPI:
    """The app, with its services started (store migrated, hosts loaded). Whoever creates it
    closes them: `app.state.services.close()` (not the ASGI lifespan, which test clients and
    schemathesis run once per request)."""
    svc = start_services(settings or Settings(), connector)
    # Swagger UI from the package's own files (fastapi-offline), not a CDN: the docs work on
    # a machine without the internet.
    app = FastAPIOffline(
        title="plugboard",
        version=__version__,
        description="Network wiring of virtual machines on libvirt/KVM hosts.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        swagger_ui_oauth2_redirect_url=f"{PREFIX}/docs/oauth2-redirect",
        static_url=f"{PREFIX}/docs/static",
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.services = svc
    _publish_network_form(app)
    problems.install(app)
    for module in (
        health,
        hosts,
        networks,
        hostnet,
        interfaces,
        vms,
        mirroring,
        operations,
        templates,
        profiles,
        users,
        grants,
        tokens,
        events,
    ):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(macpool.router, prefix=PREFIX)

    app.add_middleware(BoundedBodies, services=svc)
    app.add_middleware(AuditChanges, services=svc)  # the outer: it sees BoundedBodies' refusals
    return app


def operation_id(route: APIRoute) -> str:
    """The route function's name in camelCase (`list_hosts` -> `listHosts`): what generated
    clients call the operation."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _publish_network_form(app: FastAPI) -> None:
    """The OpenAPI document with the network's JSON form (which is not a pydantic model)."""
    made = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = made()
            document["components"]["schemas"].update(network_definition_schemas())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


class AuditChanges:
    """Records every change request (POST, PUT, PATCH, DELETE under /api/v1) in the audit
    log once it is answered: who, what, on what, the outcome, how long. Plain ASGI: it only
    watches the response start for the status, and never buffers the body."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in CHANGES
            or not scope["path"].startswith(PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = (time.perf_counter() - started) * 1000
                # Never on the event loop, even for SQLite: a route's transaction may hold
                # the write lock until the loop schedules its commit, and a write waiting on
                # the loop would wait for itself (busy_timeout, then 'database is locked').
                await run_in_threadpool(_record, self.services, scope, status, elapsed)
            await send(message)

        await self.app(scope, receive, watch)


def _record(svc: Services, scope: Scope, status: int, duration_ms: float) -> None:
    request = Request(scope)
    route = scope.get("route")
    path: str = getattr(route, "path", None) or scope["path"]
    state = request.state
    target = getattr(state, "audit_target", None) or scope["path"]
    ok = getattr(state, "audit_result", None) or "ok"  # a dry run is "dry-run"
    actor = _actor(svc, request)
    with svc.store.engine.begin() as db:
        audit.record(
            db,
            actor=actor,
            via=getattr(state, "via", None),
            action=f"{scope['method']} {path.removeprefix(PREFIX)}",
            target=target.removeprefix(PREFIX).strip("/"),
            status=status,
            result=ok if status < 400 else getattr(state, "problem_code", "ERROR"),
            # A route's own account (a vNIC change's, failed or not) says more than a problem.
            detail=getattr(state, "audit_detail", None) or getattr(state, "problem_detail", None),
            duration_ms=duration_ms,
            data=getattr(state, "audit_data", None),
        )


def _actor(svc: Services, request: Request) -> str:
    """Who asked: the user a route has authenticated; else the token sent, looked
    up here, for a request answered before or without its route (a 405, broken JSON, a body
    refused by plugboard.api.limits, an unknown or revoked token). Never the secret."""
    actor: str | None = getattr(request.state, "actor", None)
    if actor is not None:
        return actor
    secret = bearer_secret(request.headers)
    if secret is None:
        return "anonymous"
    if (known := svc.tokens.get(secret)) is not None:
        return known.name
    with svc.store.session() as db:
        return token_label(db, secret)
