"""A host's network interfaces (what `virsh iface-list` shows, and more): type, state, MAC,
MTU, addresses, bridge ports and master, and the VMs and networks that use each. Read-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from plugboard.api.schemas import Name
from plugboard.engine import interfaces
from plugboard.hostnet.model import TYPES, InterfaceType
from plugboard.web.core import WebRoute, Who, render
from plugboard.web.hosts import host_names

router = APIRouter(prefix="/hosts/{host}", route_class=WebRoute)


@router.get("/interfaces", response_class=HTMLResponse, include_in_schema=False)
def interfaces_page(
    request: Request,
    who: Who,
    host: Name,
    type: Annotated[InterfaceType | None, Query()] = None,
) -> HTMLResponse:
    """Every interface, or those of one type (the API's `type` filter; a GET form)."""
    listing = interfaces.list_interfaces(
        who.services.registry.get(host), who.principal, types=[type] if type else ()
    )
    return render(
        request, "interfaces.html", who=who, host=host, hosts=host_names(who),
        section="interfaces", listing=listing, types=TYPES, type=type,
    )  # fmt: skip
