from typing import Annotated

from fastapi import APIRouter, Query

from plugboard.api.deps import CurrentUser, DbSession
from plugboard.api.problems import responses
from plugboard.api.schemas import EventOut, EventPage
from plugboard.engine import audit

router = APIRouter(prefix="/events", tags=["events"], responses=responses(401, 422))


@router.get("", summary="The audit log, newest first")
def list_events(
    db: DbSession,
    _: CurrentUser,
    target: Annotated[
        str | None, Query(max_length=512, description="e.g. hosts/local (and all below it)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> EventPage:
    page = audit.list_events(db, target=target, limit=limit, offset=offset)
    return EventPage(
        items=[EventOut.model_validate(e) for e in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )
