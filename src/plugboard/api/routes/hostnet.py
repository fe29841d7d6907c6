"""A host's network configuration: /api/v1/hosts/{host}/network-state (issue 18)."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plugboard.api.deps import CurrentUser, HostDep
from plugboard.api.problems import responses
from plugboard.engine import hostnet
from plugboard.hostnet.desired import NetworkState

router = APIRouter(
    prefix="/hosts/{host}/network-state",
    tags=["interfaces"],
    responses=responses(400, 401, 403, 404, 422, 502),
)


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
