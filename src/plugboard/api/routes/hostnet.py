"""A host's network configuration: /api/v1/hosts/{host}/network-state (issue 18): read it,
plan a change, apply one (it waits for a confirmation, else the host rolls it back), confirm
it, and follow it at .../changes/{id}."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, IPvAnyAddress
from pydantic.json_schema import WithJsonSchema

from plugboard.api.deps import API_PREFIX, CurrentUser, HostDep, ServicesDep, audit_detail
from plugboard.api.problems import responses
from plugboard.engine import hostnet, hostnet_changes
from plugboard.engine.hostnet_changes import ChangeRequest, HostChange
from plugboard.hostnet.desired import NetworkState

router = APIRouter(
    prefix="/hosts/{host}/network-state",
    tags=["interfaces"],
    responses=responses(400, 401, 403, 404, 422, 502),
)


# IPv4 or IPv6, as JSON Schema's own formats say it (pydantic's "ipvanyaddress" is a format no
# client or fuzzer knows, so they would send any string).
ProbeAddress = Annotated[
    IPvAnyAddress,
    WithJsonSchema({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
]


class NetworkStateOut(BaseModel):
    host: str
    source: str = Field(description="netlink+ovsdb or netlink (libvirtd runs here), or libvirt")
    cannot_see: list[str]
    state: NetworkState


class StepOut(BaseModel):
    action: str = Field(description="create, release, set-mtu, enslave, set, add-address, ...")
    interface: str
    detail: str
    reason: str


class PlanOut(BaseModel):
    host: str
    steps: list[StepOut]


@router.get("", summary="The host's interfaces in the desired state's form (host-admin)")
def get_network_state(host: HostDep, who: CurrentUser) -> NetworkStateOut:
    found = hostnet.network_state(host, who)
    return NetworkStateOut(
        host=host.name, source=found.source, cannot_see=found.cannot_see, state=found.state
    )


@router.post(
    "/plan",
    summary="The plan from the host's state to a desired one (nothing changes)",
    responses=responses(409),
    description="Ordered steps, each with its reason. Refused with 409 PLAN_REFUSED listing "
    "each refusal: a loop, a port in two masters, removing an interface a VM, a libvirt "
    "network or the management address uses, a VLAN on a missing base, an MTU above a port's, "
    "a change of an interface's kind. Interfaces not mentioned are left alone.",
)
def plan_network_state(host: HostDep, body: NetworkState, who: CurrentUser) -> PlanOut:
    found = hostnet.checked_plan(host, who, body)
    steps = [StepOut(**s.__dict__) for s in found.steps]
    return PlanOut(host=host.name, steps=steps)


class NetworkStateChange(NetworkState):
    """A desired state, and how the change is kept: confirmed within `rollback_timeout`
    (POST .../confirm), or by every probe answering from the host; else the host rolls it
    back."""

    rollback_timeout: float = Field(
        60.0, ge=1, le=3600, description="Seconds the host waits for a confirmation."
    )
    probes: list[ProbeAddress] = Field(
        default_factory=list, max_length=16,
        description="Addresses that must all answer a ping from the host: the host keeps the "
        "change by itself when they do.",
    )  # fmt: skip

    def request(self, etc_dir: str = "/etc/network") -> ChangeRequest:
        desired = NetworkState(interfaces=self.interfaces, routes=self.routes)
        probes = [str(p) for p in self.probes]
        return ChangeRequest(desired, self.rollback_timeout, probes, etc_dir)


class ChangeOut(BaseModel):
    id: str
    host: str
    state: str = Field(description="applying, waiting, confirmed, rolled-back or failed")
    deadline: float | None = Field(
        None, description="When the host rolls the change back (Unix time) unless confirmed"
    )
    rollback_timeout: float | None = None
    probes: list[str] = Field(default_factory=list)
    steps: list[StepOut]
    diff: list[str] = Field(default_factory=list, description="What the change did")
    reason: str | None = Field(None, description="Why it was rolled back or failed")
    confirmed_by: str | None = Field(None, description="caller, probes or nothing to do")
    rollback_errors: list[str] = Field(default_factory=list)
    dhcp_clients: dict[str, int] = Field(
        default_factory=dict,
        description="The DHCP clients the change started on the host (interface: pid): a "
        "rollback stops them; a confirmed change leaves them running, the host's from then on",
    )
    persisted: str | None = Field(
        None, description="The file on the host a confirmed change was written to (ifupdown)"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the confirmation could not do: the host's interfaces file does not "
        "source the written one, a route not written, the file not writable",
    )

    @classmethod
    def of(cls, change: HostChange) -> "ChangeOut":
        s: dict[str, Any] = change.status
        fields = {k: s[k] for k in cls.model_fields if k in s and s[k] is not None}
        return cls(**(fields | {"id": change.id, "host": change.host, "state": change.state}))


ChangeId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="The change's id (a UUID).")]


def _location(change: HostChange) -> str:
    return f"{API_PREFIX}/hosts/{change.host}/network-state/changes/{change.id}"


@router.post(
    "",
    status_code=202,
    summary="Apply a change to the host's network; kept only when confirmed in time",
    response_model=ChangeOut,
    responses={
        200: {"model": PlanOut, "description": "A dry run: the plan; nothing changes"},
        **responses(409),
    },
    description="Plans as .../plan does (409 PLAN_REFUSED), then the host takes a checkpoint, "
    "applies the steps and reads them back: a mismatch or an error rolls back at once (409 "
    "CHANGE_FAILED with desired, current and diff). Otherwise 202: the change waits for "
    "POST .../confirm, or for every probe to answer, until its deadline; then the host itself "
    "rolls it back. 409 CHANGE_PENDING while another change waits; 409 HOST_NOT_LOCAL for a "
    "host whose libvirtd runs on another machine (not built yet).",
)
def apply_network_state(
    host: HostDep,
    body: NetworkStateChange,
    request: Request,
    svc: ServicesDep,
    who: CurrentUser,
    dry_run: Annotated[bool, Query(description="Only show the plan")] = False,
) -> Response:
    if dry_run:
        request.state.audit_result = "dry-run"
        found = hostnet.checked_plan(host, who, body.request().desired)
        out = PlanOut(host=host.name, steps=[StepOut(**s.__dict__) for s in found.steps])
        return JSONResponse(out.model_dump(mode="json"))
    etc_dir = hostnet_changes.etc_dir(svc.settings.hostnet_etc_dir, host)
    change = hostnet_changes.apply_change(
        host, who, body.request(etc_dir), svc.settings.hostnet_run_dir, svc.store
    )
    out_change = ChangeOut.of(change)
    audit_detail(request, f"change {change.id}: {len(out_change.steps)} steps, {change.state}")
    request.state.audit_data = {"change": change.id, "steps": change.status.get("steps"),
                                "diff": change.status.get("diff")}  # fmt: skip
    return JSONResponse(
        out_change.model_dump(mode="json"), status_code=202, headers={"Location": _location(change)}
    )


@router.post(
    "/confirm",
    summary="Keep the change that waits for its confirmation",
    responses=responses(409),
    description="409 NO_CHANGE_WAITING when none waits (none was applied, or it was confirmed "
    "or rolled back already).",
)
def confirm_network_state(
    host: HostDep, request: Request, svc: ServicesDep, who: CurrentUser
) -> ChangeOut:
    change = hostnet_changes.confirm(host, who, svc.settings.hostnet_run_dir, svc.store)
    out = ChangeOut.of(change)
    audit_detail(request, f"change {change.id} confirmed, written to {out.persisted}")
    request.state.audit_data = {"change": change.id, "persisted": out.persisted,
                                "warnings": out.warnings}  # fmt: skip
    return out


@router.get("/changes/{change_id}", summary="A host network change and how it ended")
def get_network_state_change(
    host: HostDep, change_id: ChangeId, svc: ServicesDep, who: CurrentUser
) -> ChangeOut:
    found = hostnet_changes.get_change(
        host, who, change_id, svc.settings.hostnet_run_dir, svc.store
    )
    return ChangeOut.of(found)
