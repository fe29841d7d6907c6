from typing import Annotated

from fastapi import APIRouter, Query

from plugboard.api.deps import CurrentUser, DbSession
from plugboard.api.problems import responses
from plugboard.api.schemas import EventOut, EventPage, EventQuery
from plugboard.engine import audit

router = APIRouter(prefix="/events", tags=["events"], responses=responses(400, 401, 422))


@router.get("", summary="The audit log, newest first")
def list_events(
    db: DbSession,
    _: CurrentUser,
    query: Annotated[EventQuery, Query()],
) -> EventPage:
    page = audit.list_events(db, target=query.target, limit=query.limit, offset=query.offset)
    return EventPage(
        items=[EventOut.model_validate(e) for e in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )
