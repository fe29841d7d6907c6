"""The web UI: server-rendered pages (Jinja2, htmx vendored in static/) at `/`, beside the
API under /api/v1. The pages call the engine's use cases, as the API's routes do."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from plugboard.engine.throttle import Throttle
from plugboard.web import (
    access,
    auth,
    events,
    hosts,
    interfaces,
    live,
    networks,
    profiles,
    vm,
    vm_templates,
    vms,
)
from plugboard.web.sessions import SessionStore

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.state.web_sessions = SessionStore(app.state.services.settings.session_idle_timeout)
    app.state.sign_in_throttle = Throttle()
    # The one subscriber of the web UI on the hosts' feed: it fans out to the open pages.
    app.state.web_hub = live.Hub()
    app.state.services.registry.subscribe(app.state.web_hub)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        auth,
        hosts,
        networks,
        vms,
        live,
        vm,
        interfaces,
        vm_templates,
        profiles,
        events,
        access,
    ):
        app.include_router(module.router)
