"""The audit log as a page: newest first, 50 a page, filtered by target (part of it, or it and
what is below it), actor, part of the action and outcome. The filters are the API's GET /events
query parameters, read by the API's own schema: a filtered page is a URL."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from plugboard.api.schemas import EventQuery
from plugboard.engine import audit
from plugboard.web.core import Problem, WebRoute, Who, render
from plugboard.web.hosts import host_names

router = APIRouter(route_class=WebRoute)
PAGE_SIZE = 50
FILTERS = ("target_contains", "target", "actor", "action", "outcome")


def page_url(asked: dict[str, str], offset: int) -> str:
    """This page's URL with the same filters, from `offset`."""
    query = {k: v for k, v in asked.items() if k in FILTERS and v}
    if offset > 0:
        query["offset"] = str(offset)
    return "/events" + (f"?{urlencode(query)}" if query else "")


@router.get("/events", include_in_schema=False)
def events_page(request: Request, who: Who) -> Response:
    asked = {k: v.strip() for k, v in request.query_params.items() if k in (*FILTERS, "offset")}
    if any(not v for v in request.query_params.values()):
        # The filter form sends its empty fields too: the same page under its short URL.
        start = asked.get("offset", "")
        return RedirectResponse(page_url(asked, int(start) if start.isdigit() else 0), 303)
    problem, page = None, None
    try:
        query = EventQuery.model_validate(
            {k: v for k, v in asked.items() if v} | {"limit": PAGE_SIZE}
        )
    except ValidationError as err:
        problem = Problem.invalid(err)
    else:
        with who.services.store.session() as db:
            page = audit.list_events(
                db, who.principal, query.only(), limit=query.limit, offset=query.offset
            )
    offset = page.offset if page else 0
    return render(
        request, "events.html", 422 if problem else 200, who=who, hosts=host_names(who),
        nav="events", page=page, problem=problem, asked=asked, outcomes=audit.OUTCOMES,
        newer=page_url(asked, max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        older=page_url(asked, offset + PAGE_SIZE)
        if page and offset + PAGE_SIZE < page.total else None,
        filtered=any(asked.get(k) for k in FILTERS), clear=page_url({}, 0),
    )  # fmt: skip
