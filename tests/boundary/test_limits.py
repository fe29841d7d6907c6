"""The request limits of `plugboard serve`, against the real process on a real socket (libvirt's
test driver as its host): bodies bounded in size and time and never read for an unknown caller,
headers bounded in size and time, idle connections closed, connections capped."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4 * 1024 * 1024  # the default PLUGBOARD_MAX_BODY_BYTES
MIB = 1024 * 1024


class Served:
    def __init__(self, directory: Path, **settings: str) -> None:
        self.port = free_port()
        env = (
            os.environ
            | {
                "PLUGBOARD_DATABASE_URL": f"sqlite:///{directory / 'plugboard.db'}",
                "PLUGBOARD_CONFIG_DIR": str(directory / "config"),
                "PLUGBOARD_CONFIG": str(directory / "none.toml"),  # not the machine user's file
                "PLUGBOARD_LOCAL_URI": "test:///default",
                "PLUGBOARD_LISTEN_PORT": str(self.port),
            }
            | {f"PLUGBOARD_{k.upper()}": v for k, v in settings.items()}
        )
        self.log = (directory / "service.log").open("w")
        command = [sys.executable, "-m", "plugboard", "serve"]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        deadline = time.monotonic() + 60
        while not self._healthy():
            assert self.proc.poll() is None, (directory / "service.log").read_text()
            assert time.monotonic() < deadline, "the service did not start in 60 s"
            time.sleep(0.1)
        self.token = (directory / "config" / "token").read_text().strip()

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/health", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def status(self, field: str) -> int:
        """A line of /proc/PID/status, in bytes (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(field)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    service = Served(tmp_path_factory.mktemp("limits"))
    yield service
    service.stop()


def head(path: str, *, length: int | None = None, token: str | None = None, chunked=False) -> bytes:
    lines = [f"POST /api/v1{path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """The response on `sock` (read until the server closes it): status, headers, body."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (None if it did not within `seconds`)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


# --- body size ---------------------------------------------------------------------------------
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(served, with_token):
    token = served.token if with_token else None
    with served.connect() as sock:
        sock.sendall(head("/templates", length=LIMIT + 1, token=token))  # and no byte of body
        status, headers, body = answer(sock)
    assert status == 413
    problem = json.loads(body)
    assert problem["code"] == "PAYLOAD_TOO_LARGE"
    assert str(LIMIT) in problem["detail"] and "PLUGBOARD_MAX_BODY_BYTES" in problem["detail"]
    assert headers["connection"] == "close"


def test_a_chunked_body_is_cut_off_at_the_limit(served):
    sent = 0
    # Far more than the kernel's socket buffers hold between the two ends (several MiB on a
    # loaded machine): a client that could send it all was read to its end.
    total = 16 * LIMIT

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        while sent < total:
            sent += MIB
            yield b" " * MIB

    try:
        response = httpx.post(f"{served.base}/templates", content=chunks(), timeout=60,
                              headers={"Authorization": f"Bearer {served.token}"})  # fmt: skip
        assert response.status_code == 413
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    except httpx.TransportError:  # closed while sending: the refusal may be lost with it
        pass
    assert sent < total, "the service read on past its limit"
    # The service is none the worse for it, and nothing was stored.
    templates = httpx.get(
        f"{served.base}/templates", headers={"Authorization": f"Bearer {served.token}"}
    )
    assert templates.status_code == 200 and templates.json() == []


def test_a_body_under_the_limit_with_a_bad_token_is_refused_unread(served):
    with served.connect() as sock:
        sock.sendall(head("/templates", length=MIB, token="not-a-token"))  # and no body
        started = time.monotonic()
        status, _, body = answer(sock)
    assert status == 401, body
    assert json.loads(body)["code"] == "UNAUTHORIZED"
    assert time.monotonic() - started < 10, "the service waited for the body"


def test_the_largest_real_input_fits(served):
    """A network of 20,000 DHCP hosts (what a large site has) is well under the limit."""
    hosts = "".join(
        f"<host mac='52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}' "
        f"ip='10.1.{i // 254}.{i % 254 + 1}' name='vm{i}'/>"
        for i in range(20000)
    )
    xml = (
        "<network><name>big</name><ip address='10.0.0.1' prefix='8'><dhcp>"
        f"<range start='10.200.0.1' end='10.200.0.200'/>{hosts}</dhcp></ip></network>"
    )
    assert len(xml) < LIMIT
    response = httpx.post(
        f"{served.base}/hosts/local/networks",
        content=xml,
        headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/xml"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    auth = {"Authorization": f"Bearer {served.token}"}
    stored = httpx.get(f"{served.base}/hosts/local/networks/big", headers=auth, timeout=60)
    assert len(stored.json()["definition"]["ips"][0]["dhcp"]["hosts"]) == 20000


def test_eight_200_mb_bodies_without_a_token_leave_memory_flat(tmp_path):
    """The attack of the issue: large bodies sent by callers without a valid token, at once
    (declared lengths and chunked, no token and a wrong one). None is buffered."""
    served = Served(tmp_path)
    try:
        check_memory_under_attack(served)
    finally:
        served.stop()


def check_memory_under_attack(served: Served) -> None:
    for _ in range(20):  # warm: the routes, the token cache, the thread pool
        httpx.get(f"{served.base}/templates", headers={"Authorization": f"Bearer {served.token}"})
    idle = served.status("VmRSS")
    Path(f"/proc/{served.proc.pid}/clear_refs").write_text("5")  # the peak (VmHWM) from here
    sent: list[int] = [0] * 8
    statuses: list[int | None] = [None] * 8

    def attack(i: int) -> None:
        token = None if i % 2 else "wrong"
        chunked = i >= 4
        with served.connect() as sock:
            sock.sendall(head("/templates", length=None if chunked else 200 * MIB,
                              token=token, chunked=chunked))  # fmt: skip
            block = (f"{MIB:x}\r\n".encode() + b"x" * MIB + b"\r\n") if chunked else b"x" * MIB
            try:
                while sent[i] < 200 * MIB:
                    sock.sendall(block)
                    sent[i] += MIB
                sock.sendall(b"0\r\n\r\n" if chunked else b"")
                statuses[i] = answer(sock)[0]
            except (BrokenPipeError, ConnectionResetError):
                try:
                    statuses[i] = answer(sock)[0]
                except (ConnectionResetError, IndexError, ValueError):
                    statuses[i] = 0  # closed before its answer could be read

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    peak = served.status("VmHWM")
    print(
        f"\nidle RSS {idle / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB "
        f"(+{(peak - idle) / MIB:.1f}); sent before the service closed: "
        f"{[s // MIB for s in sent]} MiB; statuses {statuses}"
    )
    assert peak - idle < 100 * MIB
    assert all(s < 200 * MIB for s in sent), "a connection was read to its end"
    assert set(statuses) <= {401, 413, 0}
    assert httpx.get(f"{served.base}/health").is_success


# --- time --------------------------------------------------------------------------------------
def test_a_body_that_does_not_arrive_in_time_gets_408(tmp_path):
    service = Served(tmp_path, body_timeout="2")
    try:
        with service.connect() as sock:
            sock.sendall(head("/templates", length=100, token=service.token) + b'{"name": ')
            started = time.monotonic()
            status, _, body = answer(sock)
        assert status == 408, body
        assert json.loads(body)["code"] == "REQUEST_TIMEOUT"
        assert 1.5 < time.monotonic() - started < 30
    finally:
        service.stop()


def test_headers_that_never_end_are_cut_off(served):
    """Slowloris: a client that connects and trickles its headers loses its connection
    within the header deadline (10 s)."""
    with served.connect() as silent, served.connect() as trickling:
        trickling.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(1):
                try:
                    trickling.sendall(b"X-A: b\r\n")
                except OSError:
                    return

        thread = threading.Thread(target=trickle)
        thread.start()
        try:
            took = closed_within(silent, 40)
            assert took is not None and 8 < took < 40
            assert closed_within(trickling, 40) is not None
        finally:
            stop.set()
            thread.join()


def test_headers_over_16_kib_are_refused(served):
    with served.connect() as sock:
        sock.sendall(
            b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        )
        status, _, body = answer(sock)
    assert status == 431
    assert json.loads(body)["code"] == "HEADERS_TOO_LARGE"


def test_an_idle_keep_alive_connection_is_closed(served):
    with served.connect() as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        took = closed_within(sock, 40)
    assert took is not None and took < 40


def test_connections_over_the_cap_get_503(tmp_path):
    """Eight connections open (doing nothing, as a slow client's would), and the next
    request is turned away with 503 at once; once they close, requests are served again."""
    service = Served(tmp_path, max_connections="8")
    try:
        idle = [service.connect() for _ in range(8)]
        assert poll(lambda: get_status(service) == 503), "no 503 with 8 connections open"
        for sock in idle:
            sock.close()
        assert poll(lambda: get_status(service) == 200), "not served again after they closed"
    finally:
        service.stop()


def get_status(service: Served) -> int:
    return httpx.get(f"{service.base}/health", timeout=30).status_code


def poll(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
