"""A host's networks: the table and its actions, the create form (fields or pasted XML,
checked as it is typed), and a network's page (XML, leases, reservations, DNS hosts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from plugboard.api.schemas import Name
from plugboard.api.text import check_document
from plugboard.engine import networks
from plugboard.errors import InvalidInput, PlugboardError
from plugboard.web.core import (
    FormDep,
    Problem,
    Viewer,
    WebRoute,
    Who,
    audited,
    check_change,
    is_htmx,
    render,
    see_other,
)
from plugboard.web.hosts import host_names
from plugboard.web.netforms import MODES, dhcp_host_xml, dns_host_xml, network_json

router = APIRouter(prefix="/hosts/{host}", route_class=WebRoute)


@dataclass
class NetworkRow:
    state: networks.NetworkState
    vms: list[str]
    forward_mode: str = field(init=False)
    bridge: str | None = field(init=False)
    dhcp: list[str] = field(init=False)

    def __post_init__(self) -> None:
        net = self.state.definition
        self.forward_mode = net.forward_mode or "isolated"
        if net.virtualport is not None and net.virtualport.type == "openvswitch":
            self.forward_mode = "openvswitch"
        elif net.forward and net.forward.interfaces:
            self.forward_mode = f"macvtap ({net.forward_mode})"
        self.bridge = net.bridge.name if net.bridge else None
        self.dhcp = [f"{r.start} - {r.end}" for ip in net.ips if ip.dhcp for r in ip.dhcp.ranges]


def _rows(host: str, who: Viewer) -> list[NetworkRow]:
    connection = who.services.registry.get(host)
    users = networks.users_by_network(connection, who.principal)
    found = networks.list_networks(connection, who.principal)
    return [NetworkRow(s, users.get(s.name, [])) for s in found]


def _table(
    request: Request, who: Viewer, host: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """The networks page, or only its table for htmx (with the problem beside its row)."""
    template = "_networks_table.html" if is_htmx(request) else "networks.html"
    return render(
        request, template, status, who=who, host=host, hosts=host_names(who),
        section="networks", rows=_rows(host, who), **context,
    )  # fmt: skip


@router.get("/networks", response_class=HTMLResponse, include_in_schema=False)
def networks_page(request: Request, who: Who, host: Name) -> HTMLResponse:
    return _table(request, who, host)


# --- delete ----------------------------------------------------------------------------------
@router.get("/networks/{name}/delete", response_class=HTMLResponse, include_in_schema=False)
def delete_form(request: Request, who: Who, host: Name, name: Name) -> HTMLResponse:
    return render(
        request, "network_delete.html", who=who, host=host, hosts=host_names(who),
        section="networks", name=name,
    )  # fmt: skip


@router.post("/networks/{name}/delete", include_in_schema=False)
def delete(request: Request, who: Who, host: Name, name: Name, posted: FormDep) -> Response:
    try:
        check_change(request, who, posted)
        with audited(who, "DELETE /hosts/{host}/networks/{name}", f"hosts/{host}/networks/{name}"):
            networks.delete_network(
                who.services.registry.get(host),
                who.services.store,
                who.principal,
                who.services.tokens,
                name,
            )
    except PlugboardError as err:
        return render(
            request, "network_delete.html", err.status, who=who, host=host,
            hosts=host_names(who), section="networks", name=name, problem=Problem.of(err),
        )  # fmt: skip
    return see_other(f"/hosts/{host}/networks", request)


ACTIONS = {"start", "stop", "autostart-on", "autostart-off"}


@router.post("/networks/{name}/{action}", include_in_schema=False)
def act(
    request: Request, who: Who, host: Name, name: Name, action: str, posted: FormDep
) -> Response:
    connection = who.services.registry.get(host)
    target = f"hosts/{host}/networks/{name}"
    try:
        check_change(request, who, posted)
        if action not in ACTIONS:
            raise InvalidInput(f"'{action}' is not one of {', '.join(sorted(ACTIONS))}")
        with audited(who, _api_action(action), target):
            if action == "start":
                networks.start_network(connection, who.principal, name)
            elif action == "stop":
                networks.stop_network(connection, who.principal, name)
            else:
                networks.set_autostart(connection, who.principal, name, action == "autostart-on")
    except PlugboardError as err:
        return _table(request, who, host, err.status, problem=Problem.of(err), problem_for=name)
    return _table(request, who, host)


def _api_action(action: str) -> str:
    if action.startswith("autostart"):
        return "PATCH /hosts/{host}/networks/{name}"
    return f"POST /hosts/{{host}}/networks/{{name}}/{action}"


# --- create ----------------------------------------------------------------------------------
def _new(
    request: Request, who: Viewer, host: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return render(
        request, "network_new.html", status, who=who, host=host, hosts=host_names(who),
        section="networks", modes=MODES, asked=context.pop("asked", {}), **context,
    )  # fmt: skip


@router.get("/new-network", response_class=HTMLResponse, include_in_schema=False)
def new_form(request: Request, who: Who, host: Name) -> HTMLResponse:
    return _new(request, who, host)


@router.post("/new-network", include_in_schema=False)
def create(request: Request, who: Who, host: Name, posted: FormDep) -> Response:
    """From the form's fields (the API's JSON form) or from pasted XML (the API's XML)."""
    from_xml = posted.get("source") == "xml"
    try:
        check_change(request, who, posted)
        if from_xml:
            definition = networks.definition_from(posted.get("xml", "").encode(), xml=True)
        else:
            doc = network_json(posted)
            check_document(doc)
            definition = networks.definition_from(doc, xml=False)
        target = f"hosts/{host}/networks/{definition.name}"
        with audited(who, "POST /hosts/{host}/networks", target):
            networks.define_network(
                who.services.registry.get(host),
                who.principal,
                definition,
                start=posted.get("start") == "on",
                autostart=posted.get("autostart") == "on",
            )
    except PlugboardError as err:
        return _new(
            request, who, host, err.status, problem=Problem.of(err), asked=dict(posted),
            tab="xml" if from_xml else "form",
        )  # fmt: skip
    return see_other(f"/hosts/{host}/networks/{definition.name}", request)


@router.post("/check-xml", response_class=HTMLResponse, include_in_schema=False)
def check_xml(request: Request, who: Who, host: Name, posted: FormDep) -> HTMLResponse:
    """The pasted XML checked as it is typed (plugboard.netxml, as the API checks it): the
    verdict and the submit button, disabled while the XML is bad."""
    text = posted.get("xml", "")
    problem = None
    if not text.strip():
        problem = Problem("Nothing to check.", "paste a <network> definition", "EMPTY", 422)
    else:
        try:
            check_document(text)
            definition = networks.definition_from(text.encode(), xml=True)
        except PlugboardError as err:
            problem = Problem.of(err)
    name = None if problem else definition.name
    return render(request, "_xml_check.html", who=who, host=host, problem=problem, name=name)


# --- one network -----------------------------------------------------------------------------
def _network(request: Request, who: Viewer, host: str, name: str, **context: Any) -> HTMLResponse:
    connection = who.services.registry.get(host)
    state = networks.get_network(connection, who.principal, name)
    status = context.pop("status", 200)
    leases, leases_problem = [], None
    if state.active:
        try:
            leases = networks.leases(connection, who.principal, name)
        except PlugboardError as err:  # libvirt's test driver has no leases, for one
            leases_problem = Problem.of(err)
    return render(
        request, "network.html", status, who=who, host=host, hosts=host_names(who),
        section="networks", state=state, row=NetworkRow(state, _users(who, host, name)),
        leases=leases, leases_problem=leases_problem, **context,
    )  # fmt: skip


def _users(who: Viewer, host: str, name: str) -> list[str]:
    return networks.users_by_network(who.services.registry.get(host), who.principal).get(name, [])


@router.get("/networks/{name}", response_class=HTMLResponse, include_in_schema=False)
def network_page(request: Request, who: Who, host: Name, name: Name) -> HTMLResponse:
    return _network(request, who, host, name)


SECTIONS = {"dhcp-hosts": ("ip-dhcp-host", dhcp_host_xml), "dns-hosts": ("dns-host", dns_host_xml)}


@router.post("/networks/{name}/{section}/{command}", include_in_schema=False)
def update(
    request: Request, who: Who, host: Name, name: Name, section: str, command: str, posted: FormDep
) -> Response:
    """Add or remove a DHCP reservation or a DNS host: one net-update, live and persistent."""
    try:
        check_change(request, who, posted)
        if section not in SECTIONS or command not in ("add", "remove"):
            raise InvalidInput(f"no such change: {section}/{command}")
        libvirt_section, make_xml = SECTIONS[section]
        xml = make_xml(posted)
        with audited(
            who, "POST /hosts/{host}/networks/{name}/updates", f"hosts/{host}/networks/{name}"
        ):
            networks.update_network(
                who.services.registry.get(host),
                who.principal,
                name,
                "add-last" if command == "add" else "delete",
                libvirt_section,
                xml,
            )
    except PlugboardError as err:
        return _network(
            request, who, host, name, status=err.status, problem=Problem.of(err),
            problem_for=section, asked={section: dict(posted)},
        )  # fmt: skip
    if is_htmx(request):
        return _network(request, who, host, name)
    return see_other(f"/hosts/{host}/networks/{name}", request)
