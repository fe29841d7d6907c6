"""The web UI: server-rendered pages (Jinja2, htmx vendored in static/) at `/`, beside the
API under /api/v1. The pages call the engine's use cases, as the API's routes do."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from plugboard.web import auth, hosts, networks
from plugboard.web.sessions import SessionStore

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.state.web_sessions = SessionStore()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, hosts, networks):
        app.include_router(module.router)
