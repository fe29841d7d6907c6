"""Bulk operations: POST /api/v1/hosts/{host}/rewire starts a bulk re-wire; GET
/api/v1/operations/{operation_id} shows its progress, and .../events streams it as
Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from plugboard.api.deps import API_PREFIX, CurrentUser, HostDep, ServicesDep, audit_detail
from plugboard.api.operation_schemas import OperationOut, RewireCreate
from plugboard.api.problems import responses
from plugboard.engine import rewire
from plugboard.engine.operations import Operation

router = APIRouter(tags=["operations"], responses=responses(400, 401, 404, 422, 502))
KEEP_ALIVE = 15.0  # seconds between comments on a quiet stream (proxies close idle ones)
OperationId = Annotated[
    str,
    Path(pattern=r"^[0-9a-f-]{36}$", description="The operation's id (a UUID)."),
]


def _location(operation: Operation) -> str:
    return f"{API_PREFIX}/operations/{operation.id}"


@router.post(
    "/hosts/{host}/rewire",
    status_code=202,
    summary="Move every vNIC on one network (of some VMs, or all) to another, as an operation",
    responses={
        200: {
            "model": OperationOut,
            "description": "A dry run: the finished operation with each vNIC's plan",
        },
        **responses(403, 409),
    },
    response_model=OperationOut,
)
def rewire_vnics(
    host: HostDep, body: RewireCreate, request: Request, svc: ServicesDep, who: CurrentUser
) -> Response:
    operation = rewire.start_rewire(
        host,
        svc.registry,
        svc.store,
        svc.operations,
        body.request(who, svc.settings.hotunplug_timeout),
    )
    out = OperationOut.from_operation(operation)
    if body.dry_run:
        request.state.audit_result = "dry-run"
    audit_detail(
        request,
        f"{'dry run: ' if body.dry_run else ''}{out.total} vNICs from {body.source} to "
        f"{body.target} (operation {operation.id})",
    )
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=200 if body.dry_run else 202,
        headers={"Location": _location(operation)},
    )


@router.get("/operations/{operation_id}", summary="A bulk operation and each vNIC's result")
def get_operation(operation_id: OperationId, svc: ServicesDep, who: CurrentUser) -> OperationOut:
    return OperationOut.from_operation(svc.operations.get(who, operation_id))


@router.get(
    "/operations/{operation_id}/events",
    summary="The operation's progress as Server-Sent Events, until it is finished",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`event: progress` with the operation (JSON) at each change; "
            "`event: finished` with it as it ended, then the stream ends",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def operation_events(
    operation_id: OperationId, request: Request, svc: ServicesDep, who: CurrentUser
) -> StreamingResponse:
    operation = svc.operations.get(who, operation_id)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _events(operation, request), media_type="text/event-stream", headers=headers
    )


async def _events(operation: Operation, request: Request) -> AsyncIterator[str]:
    """The operation now, then at each change, until it is finished."""
    seen = -1
    with operation.watching() as changed:
        while True:
            changed.clear()  # before the read: a change after it sets it again
            now = operation.view()
            if now.version != seen:
                seen = now.version
                kind = "finished" if now.state == "finished" else "progress"
                data = json.dumps(OperationOut.from_view(now).model_dump(mode="json"))
                yield f"event: {kind}\nid: {seen}\ndata: {data}\n\n"
                if kind == "finished":
                    return
            try:
                await asyncio.wait_for(changed.wait(), KEEP_ALIVE)
            except TimeoutError:
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
