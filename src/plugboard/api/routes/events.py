from typing import Annotated

from fastapi import APIRouter, Query

from plugboard.api.deps import CurrentUser, DbSession
from plugboard.api.problems import responses
from plugboard.api.schemas import EventPageOut, EventQuery
from plugboard.engine import audit

router = APIRouter(prefix="/events", tags=["events"], responses=responses(400, 401, 422))


@router.get("", summary="The audit log, newest first")
def list_events(
    db: DbSession,
    who: CurrentUser,
    query: Annotated[EventQuery, Query()],
) -> EventPageOut:
    page = audit.list_events(db, who, query.only(), limit=query.limit, offset=query.offset)
    return EventPageOut.from_page(page)
