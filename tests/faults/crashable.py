"""A plugboard service in a process of its own, to be killed and started again on the same
store, for the fault-injection tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


class CrashableService:
    """`plugboard serve` (tests.faults.faulty_serve) on a SQLite store in `directory`, with
    the test host as its host `local`."""

    def __init__(self, directory: Path, host_uri: str, **settings: str) -> None:
        self.directory = directory
        self.host_uri = host_uri
        self.settings = settings
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = directory / "service.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def env(self, fault: str | None) -> dict[str, str]:
        env = os.environ | {
            "PLUGBOARD_DATABASE_URL": f"sqlite:///{self.directory / 'plugboard.db'}",
            "PLUGBOARD_CONFIG_DIR": str(self.directory / "config"),
            "PLUGBOARD_LOCAL_URI": self.host_uri,
            "PLUGBOARD_LOCAL_DOMAIN_TYPE": "qemu",
            "PLUGBOARD_LISTEN_PORT": str(self.port),
            "PLUGBOARD_HOTUNPLUG_TIMEOUT": "20",
            **{f"PLUGBOARD_{k.upper()}": v for k, v in self.settings.items()},
        }
        env.pop("PLUGBOARD_FAULT", None)
        if fault:
            env["PLUGBOARD_FAULT"] = fault
        return env

    def start(self, fault: str | None = None, timeout: float = 60) -> None:
        """Start the service (armed with `fault`) and wait until it answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log.open("a") as log:
            log.write(f"--- start, fault={fault}\n")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.faults.faulty_serve"],
                cwd=ROOT,
                env=self.env(fault),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start: see {self.log}")
            time.sleep(0.05)

    def client(self) -> httpx.Client:
        token = (self.directory / "config" / "token").read_text().strip()
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )

    def killed_during(self, method: str, path: str, **kwargs) -> httpx.Response | None:
        """Send a request the armed service dies in; None when it died, else the answer (the
        fault was not reached) and the service is killed now."""
        with self.client() as http:
            try:
                response = http.request(method, path, **kwargs)
            except httpx.TransportError:
                response = None
        self.wait_dead(kill=response is not None)
        return response

    def wait_dead(self, kill: bool = False, timeout: float = 60) -> None:
        assert self.proc is not None
        if kill and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
