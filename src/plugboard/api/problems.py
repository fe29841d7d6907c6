"""The one place where errors become application/problem+json responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from plugboard.api.schemas import Problem
from plugboard.api.vm_schemas import vnic_config
from plugboard.errors import InvalidInput, PlugboardError, TooManyRequests
from plugboard.vnic import Vnic

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "TOO_MANY_REQUESTS",
}


def problem(request: Request, *, code: str, detail: str, **fields: Any) -> JSONResponse:
    """`problem_response`, its code and detail kept for the audit log."""
    request.state.problem_code = code
    request.state.problem_detail = detail
    return problem_response(code=code, detail=detail, **fields)


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: dict | None = None,
) -> JSONResponse:
    """The problem's response, made where there is no Request yet (plugboard.api.limits)."""
    body = {
        "type": f"urn:plugboard:problem:{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra or {})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Starlette's 405 names only the first route of the path; a path has one per method."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE and isinstance(route, APIRoute):
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _field(location: tuple) -> str:
    return ".".join(str(part) for part in location if part != "body") or "body"


def invalid_json(doc: str | bytes, pos: int, reason: str) -> str:
    """Where JSON broke, as a person counts (json's own message counts characters too)."""
    text = doc.decode(errors="replace") if isinstance(doc, bytes) else doc
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"invalid JSON at line {line}, column {column}: {reason}"


def _error(error: Mapping[str, Any], body: Any) -> dict[str, str]:
    """One entry of a problem's `errors`; broken JSON is about the body, not a field."""
    if error["type"] == "json_invalid":
        message = invalid_json(body or "", error["loc"][-1], error.get("ctx", {}).get("error", ""))
        return {"field": "body", "message": message}
    return {"field": _field(error["loc"]), "message": error["msg"]}


def _present(value: object) -> object:
    """A problem's member as JSON: a vNIC as the vNIC API shows what a client can set."""
    return vnic_config(value) if isinstance(value, Vnic) else value


def validation_detail(errors: list[dict[str, str]]) -> str:
    """A 422's detail: each invalid field and what is wrong with it (the web UI's forms say
    the same words)."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(PlugboardError)
    async def plugboard_error(request: Request, exc: PlugboardError) -> JSONResponse:
        errors = (
            [{"field": exc.extra["field"], "message": exc.detail}]
            if (isinstance(exc, InvalidInput) and "field" in exc.extra)
            else None
        )
        # Members of this problem: the VMs that use a network, libvirt's error code, ...
        extra = {k: _present(v) for k, v in exc.extra.items() if k != "field"}
        wait = exc.extra.get("retry_after") if isinstance(exc, TooManyRequests) else None
        return problem(
            request,
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            errors=errors,
            extra=extra,
            headers={"Retry-After": str(wait)} if wait is not None else None,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_error(e, exc.body) for e in exc.errors()]
        detail = validation_detail(errors)
        return problem(
            request,
            status=422,
            code="VALIDATION_ERROR",
            title="Invalid input.",
            detail=detail,
            errors=errors,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(_allowed_methods(app, request))}
        return problem(
            request,
            status=exc.status_code,
            code=code,
            title=str(exc.detail),
            detail=str(exc.detail),
            headers=headers,
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same name; the loser is told as if it had come second.
        return problem(
            request,
            status=409,
            code="CONFLICT",
            title="Conflict.",
            detail="the object changed or exists already; read it again and retry",
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return problem(
            request,
            status=500,
            code="INTERNAL_ERROR",
            title="Internal error.",
            detail=f"{type(exc).__name__}: {exc}; see the service log",
        )


def responses(*statuses: int) -> dict:
    """OpenAPI declarations of the problem responses a route can give."""
    schema = Problem.model_json_schema()
    return {
        status: {"description": "Problem", "content": {MEDIA_TYPE: {"schema": schema}}}
        for status in statuses
    }
