"""The CLI's HTTP client of the plugboard service."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from plugboard.settings import config_dir

DEFAULT_URL = "http://127.0.0.1:8470"


class ClientError(Exception):
    """What the service (or the way to it) said went wrong; `detail` is for stderr, `problem`
    (the service's problem document, or one like it) for -o json."""

    def __init__(
        self,
        detail: str,
        code: str | None = None,
        status: int | None = None,
        problem: dict | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail, self.code, self.status = detail, code, status
        self.problem = problem or {"title": "plugboard CLI error", "detail": detail}


def _read(path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass
class Client:
    url: str
    token: str | None
    timeout: float = 60.0

    @classmethod
    def configured(cls, url: str | None, token: str | None) -> Client:
        """--url/--token, else PLUGBOARD_URL/PLUGBOARD_TOKEN, else the config directory."""
        directory = config_dir()
        return cls(
            url=(
                url or os.environ.get("PLUGBOARD_URL") or _read(directory / "url") or DEFAULT_URL
            ).rstrip("/"),
            token=token or os.environ.get("PLUGBOARD_TOKEN") or _read(directory / "token"),
        )

    def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs: Any) -> Any:
        """JSON answers are decoded; XML answers come back as text."""
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.request(
                method, f"{self.url}/api/v1{path}", headers=headers, timeout=self.timeout, **kwargs
            )
        except httpx.HTTPError as err:
            raise ClientError(
                f"cannot reach the plugboard service at {self.url}: {err}; "
                "is `plugboard serve` running?"
            ) from err
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        if "xml" in response.headers.get("content-type", ""):
            return response.text
        return response.json()

    def events(self, path: str) -> Iterator[tuple[str, Any]]:
        """A Server-Sent Events stream's events, as (event, data decoded from JSON), until
        the service ends it. Comments (keep-alives) are skipped."""
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The service sends a comment every 15 s on a quiet stream: a minute of silence is
        # a stream gone.
        timeout = httpx.Timeout(self.timeout, read=60.0)
        try:
            with httpx.stream(
                "GET", f"{self.url}/api/v1{path}", headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _problem(response)
                event, data = "message", []
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield event, json.loads("\n".join(data))
                        event, data = "message", []
        except httpx.HTTPError as err:
            raise ClientError(f"the service's event stream broke off: {err}") from err

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


def _problem(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
        return ClientError(
            body.get("detail") or body.get("title") or response.reason_phrase,
            body.get("code"),
            response.status_code,
            problem=body,
        )
    except ValueError:
        detail = f"HTTP {response.status_code} {response.reason_phrase}"
        problem = {
            "title": response.reason_phrase,
            "status": response.status_code,
            "detail": detail,
        }
        return ClientError(detail, status=response.status_code, problem=problem)
