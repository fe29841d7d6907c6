"""plugboard services for tests: the real app on a fresh store, in-process or on a port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import libvirt
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from plugboard.api.serve import uvicorn_limits
from plugboard.service import create_app
from plugboard.settings import Settings
from tests.harness.ports import free_port


def local_only(uri: str) -> libvirt.virConnect:
    """A connector that opens libvirt's test driver and test hosts' sockets and refuses
    everything else, so generated inputs (schemathesis) can never reach another machine."""
    parts = urlsplit(uri)
    socket_path = "socket=/run/plugboard-testhost/" in parts.query
    if parts.netloc or not (parts.scheme == "test" or socket_path):
        raise libvirt.libvirtError(f"the test refuses to open {uri}")
    return libvirt.open(uri)


@dataclass
class Service:
    settings: Settings
    app: FastAPI
    client: TestClient

    @property
    def token(self) -> str:
        return self.settings.token_file.read_text().strip()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cli(
        self, *args: str, token: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run the real `plugboard` command, as a user would, against this (served) service."""
        env = os.environ | {
            "PLUGBOARD_URL": self.settings.api_url,
            "PLUGBOARD_TOKEN": token or self.token,
            "COLUMNS": "200",
        }
        return subprocess.run(
            [sys.executable, "-m", "plugboard", *args],
            capture_output=True,
            text=True,
            env=env,
            input=stdin,
            timeout=60,
            check=False,
        )

    def request(
        self, method: str, path: str, headers: dict | None = None, **kwargs
    ) -> httpx.Response:
        """A request under /api/v1 with the admin token (and any other headers)."""
        return self.client.request(
            method, f"/api/v1{path}", headers=self.auth | (headers or {}), **kwargs
        )

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


class ServiceFactory:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.made: list[Service] = []
        self._servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def settings(self, **overrides) -> Settings:
        """Each service its own store and config directory (a SQLite store has one service
        process at a time); `restart` starts one again on the same."""
        n = len(self.made)
        suffix = f"-{n}" if n else ""
        values = {
            "database_url": f"sqlite:///{self.directory / f'plugboard{suffix}.db'}",
            "config_dir": self.directory / f"config{suffix}",
            "local_uri": "test:///default",
            "host_call_timeout": 10.0,
            # the host network changes' state of this service's own (not the machine's /run)
            "hostnet_run_dir": self.directory / f"hostnet{suffix}",
            # and where confirmed ones are written: never the machine's /etc/network
            "hostnet_etc_dir": str(self.directory / f"etc{suffix}" / "{host}"),
        }
        return Settings(**(values | overrides))

    def make(self, connector=local_only, **overrides) -> Service:
        settings = self.settings(**overrides)
        app = create_app(settings, connector=connector)
        service = Service(settings, app, TestClient(app))
        self.made.append(service)
        return service

    def restart(self, service: Service, **overrides) -> Service:
        """The service stopped and started again on the same store (a SQLite store has one
        service process at a time)."""
        service.app.state.services.close()
        old = service.settings
        return self.make(database_url=old.database_url.get_secret_value(),
                         config_dir=old.config_dir, **overrides)  # fmt: skip

    def serve(self, **overrides) -> Service:
        """The service on a real port of 127.0.0.1 (for the CLI), in a thread, with the limits
        `plugboard serve` sets."""
        service = self.make(listen_port=free_port(), **overrides)
        limits = uvicorn_limits(service.settings) | {"host": "127.0.0.1"}
        server = uvicorn.Server(uvicorn.Config(service.app, **limits, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        self._servers.append((server, thread))
        return service

    def close(self) -> None:
        for server, thread in self._servers:
            server.should_exit = True
            thread.join(10)
        for service in self.made:
            service.app.state.services.close()
        self.made.clear()
