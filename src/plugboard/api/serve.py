"""Running the service under uvicorn."""

from __future__ import annotations

import logging

import typer
import uvicorn

from plugboard.api.app import create_app
from plugboard.settings import Settings


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
        uvicorn.run(app, host=settings.listen_host, port=settings.listen_port, log_level="info")
    finally:
        app.state.services.close()
