"""Virtual networks of a host: /api/v1/hosts/{host}/networks."""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from plugboard.api.deps import CurrentUser, HostDep, IfMatch, ServicesDep, audit_target
from plugboard.api.problems import invalid_json, responses
from plugboard.api.schemas import (
    NETXML,
    DhcpLeaseOut,
    Name,
    NetworkChangeOut,
    NetworkOut,
    NetworkSectionUpdate,
    NetworkSummaryOut,
    NetworkUpdate,
)
from plugboard.api.text import check_document
from plugboard.engine import networks
from plugboard.errors import BadRequest, InvalidInput
from plugboard.netxml import Network

XML = "application/xml"
router = APIRouter(
    prefix="/hosts/{host}/networks", tags=["networks"], responses=responses(400, 401, 404, 422, 502)
)


async def definition_body(request: Request):
    """The request's network: libvirt XML (Content-Type: application/xml) or the JSON form."""
    raw = await request.body()
    if request.headers.get("content-type", "").split(";")[0].strip() in (XML, "text/xml"):
        try:
            check_document(raw.decode())
        except UnicodeDecodeError:
            raise InvalidInput("the XML is not UTF-8 text", field="body") from None
        return networks.definition_from(raw, xml=True)
    try:
        doc = json.loads(raw or b"null")
    except json.JSONDecodeError as err:
        raise BadRequest(
            f"{invalid_json(err.doc, err.pos, err.msg)} (send libvirt XML with Content-Type: {XML})"
        ) from None
    except ValueError as err:  # not UTF-8
        raise BadRequest(f"the body is neither JSON nor libvirt XML: {err}") from None
    check_document(doc)
    return networks.definition_from(doc, xml=False)


Definition = Annotated[Network, Depends(definition_body)]
DEFINITION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{NETXML}Network"}},
            XML: {"schema": {"type": "string", "description": "libvirt network XML"}},
        },
    }
}


@router.get("", summary="List the host's networks")
def list_networks(host: HostDep, who: CurrentUser) -> list[NetworkSummaryOut]:
    return [NetworkSummaryOut.from_state(s) for s in networks.list_networks(host, who)]


@router.get(
    "/{name}",
    summary="One network (with its ETag): JSON, or libvirt's XML with Accept: application/xml",
    response_model=NetworkOut,
    responses={200: {"content": {XML: {"schema": {"type": "string"}}}}},
)
def get_network(
    host: HostDep,
    name: Name,
    request: Request,
    who: CurrentUser,
    inactive: Annotated[
        bool, Query(description="The XML it starts with, as virsh net-dumpxml --inactive")
    ] = False,
):
    state = networks.get_network(host, who, name)
    headers = {"ETag": state.etag}
    if XML in request.headers.get("accept", ""):
        xml = state.persistent_xml if inactive else state.xml
        return Response(xml, media_type=XML, headers=headers)
    return JSONResponse(NetworkOut.from_state(state).model_dump(mode="json"), headers=headers)


def _changed(change: networks.NetworkChange, response: Response) -> NetworkChangeOut:
    response.headers["ETag"] = change.state.etag
    return NetworkChangeOut.from_change(change)


@router.post(
    "",
    status_code=201,
    summary="Define a network (JSON or libvirt XML)",
    responses=responses(403, 409),
    openapi_extra=DEFINITION_BODY,
)
def define_network(
    *,
    host: HostDep,
    request: Request,
    response: Response,
    who: CurrentUser,
    definition: Definition,
    start: Annotated[bool, Query(description="Start it too")] = False,
    autostart: Annotated[bool, Query(description="Start it with the host")] = False,
) -> NetworkChangeOut:
    audit_target(request, f"hosts/{host.name}/networks/{definition.name}")
    change = networks.define_network(host, who, definition, start=start, autostart=autostart)
    response.headers["Location"] = f"{request.url.path}/{definition.name}"
    return _changed(change, response)


@router.put(
    "/{name}",
    summary="Redefine a network (its UUID and bridge MAC kept unless given)",
    responses=responses(403, 409, 412),
    openapi_extra=DEFINITION_BODY,
)
def redefine_network(
    host: HostDep,
    name: Name,
    response: Response,
    who: CurrentUser,
    definition: Definition,
    svc: ServicesDep,
    if_match: IfMatch = None,
    restart: Annotated[bool, Query(description="Restart a running network now")] = False,
    apply_to_running: Annotated[
        bool,
        Query(
            description="A running network's changed port groups (VLANs, QoS) now, to it and "
            "to each of its running vNICs (each one's outcome in `vnics`); 409 when the "
            "definition changes more than port groups"
        ),
    ] = False,
) -> NetworkChangeOut:
    change = networks.redefine_network(
        host,
        who,
        name,
        definition,
        restart=restart,
        if_match=if_match,
        apply_to_running=apply_to_running,
        store=svc.store,
        hotunplug_timeout=svc.settings.hotunplug_timeout,
    )
    return _changed(change, response)


@router.post("/{name}/start", summary="Start a network", responses=responses(403, 409))
def start_network(host: HostDep, name: Name, who: CurrentUser) -> NetworkChangeOut:
    return NetworkChangeOut.from_change(networks.start_network(host, who, name))


@router.post("/{name}/stop", summary="Stop a network", responses=responses(403, 409))
def stop_network(host: HostDep, name: Name, who: CurrentUser) -> NetworkChangeOut:
    return NetworkChangeOut.from_change(networks.stop_network(host, who, name))


@router.patch("/{name}", summary="Change autostart", responses=responses(403, 409, 412))
def patch_network(
    host: HostDep,
    name: Name,
    body: NetworkUpdate,
    response: Response,
    who: CurrentUser,
    if_match: IfMatch = None,
) -> NetworkChangeOut:
    change = networks.set_autostart(host, who, name, body.autostart, if_match=if_match)
    return _changed(change, response)


@router.delete(
    "/{name}", status_code=204, summary="Stop and undefine a network", responses=responses(403, 409)
)
def delete_network(
    host: HostDep,
    name: Name,
    svc: ServicesDep,
    who: CurrentUser,
    force: Annotated[bool, Query(description="Even if VMs' vNICs use it")] = False,
) -> Response:
    networks.delete_network(host, svc.store, who, svc.tokens, name, force=force)
    return Response(status_code=204)


@router.post(
    "/{name}/updates",
    summary="Change one section, live and persistent",
    responses=responses(403, 409),
)
def update_network(
    host: HostDep, name: Name, body: NetworkSectionUpdate, who: CurrentUser
) -> NetworkChangeOut:
    return NetworkChangeOut.from_change(
        networks.update_network(
            host, who, name, body.command, body.section, body.xml, parent_index=body.parent_index
        )
    )


@router.get("/{name}/leases", summary="DHCP leases, with the VM and vNIC of each MAC")
def list_leases(host: HostDep, name: Name, who: CurrentUser) -> list[DhcpLeaseOut]:
    return [DhcpLeaseOut.from_lease(lease) for lease in networks.leases(host, who, name)]
