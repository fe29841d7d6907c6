"""A host's network interfaces: /api/v1/hosts/{host}/interfaces."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from plugboard.api.deps import CurrentUser, HostDep
from plugboard.api.problems import responses
from plugboard.api.schemas import HostInterfacesOut
from plugboard.engine.interfaces import list_interfaces as read_interfaces
from plugboard.hostnet.model import InterfaceType

router = APIRouter(
    prefix="/hosts/{host}/interfaces",
    tags=["interfaces"],
    responses=responses(400, 401, 404, 422, 502),
)


@router.get("", summary="The host's NICs, bonds, bridges, VLANs, macvtaps and OVS bridges")
def list_interfaces(
    host: HostDep,
    who: CurrentUser,
    type: Annotated[
        list[InterfaceType] | None, Query(description="Only these types (repeatable)")
    ] = None,
    source: Annotated[
        Literal["auto", "host", "libvirt"],
        Query(description="auto: netlink + OVSDB when libvirtd runs here, libvirt otherwise"),
    ] = "auto",
) -> HostInterfacesOut:
    return HostInterfacesOut.from_listing(host.name, read_interfaces(host, who, source, type or ()))
