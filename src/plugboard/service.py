"""The whole service on one app: the REST API under /api/v1 (plugboard.api) and the web
pages at / (plugboard.web), run under uvicorn with the API's limits."""

from __future__ import annotations

import logging

import typer
import uvicorn
from fastapi import FastAPI

from plugboard import api, web
from plugboard.api.serve import uvicorn_limits
from plugboard.hosts.connection import Connector
from plugboard.settings import Settings


def create_app(settings: Settings | None = None, connector: Connector | None = None) -> FastAPI:
    """The API (plugboard.api.create_app, whose services its creator closes) with the pages."""
    app = api.create_app(settings, connector)
    web.install(app)  # the pages at /, after the API: /api/v1 stays the API's
    return app


def run(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.echo("plugboard service:")
    for name, value in settings.describe().items():
        typer.echo(f"  {name:22} {value}")
    app = create_app(settings)
    settings.url_file.write_text(settings.api_url + "\n")
    typer.echo(f"  {'token file':22} {settings.token_file}")
    typer.echo(f"  {'API':22} {settings.api_url}/api/v1 (docs: /api/v1/docs)")
    try:
        uvicorn.run(app, **uvicorn_limits(settings), log_level="info")
    finally:
        app.state.services.close()
