"""A host's network interfaces: /api/v1/hosts/{host}/interfaces."""

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from plugboard import hostnet
from plugboard.api.deps import CurrentUser, HostDep
from plugboard.api.problems import responses
from plugboard.api.schemas import InterfaceListing

router = APIRouter(
    prefix="/hosts/{host}/interfaces",
    tags=["interfaces"],
    responses=responses(400, 401, 404, 422, 502),
)


@router.get("", summary="The host's NICs, bonds, bridges, VLANs, macvtaps and OVS bridges")
def list_interfaces(
    host: HostDep,
    _: CurrentUser,
    type: Annotated[
        list[hostnet.InterfaceType] | None, Query(description="Only these types (repeatable)")
    ] = None,
    source: Annotated[
        Literal["auto", "host", "libvirt"],
        Query(description="auto: netlink + OVSDB when libvirtd runs here, libvirt otherwise"),
    ] = "auto",
) -> InterfaceListing:
    listing = host.call(lambda conn: hostnet.read(conn, source))
    wanted = set(type or ())
    return InterfaceListing(
        host=host.name,
        source=listing.source,
        cannot_see=listing.cannot_see,
        interfaces=[asdict(i) for i in listing.interfaces if not wanted or i.type in wanted],
    )
