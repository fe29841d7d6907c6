"""Request and response bodies of bulk operations: the bulk re-wire (`RewireCreate`) and the
operation it starts (`OperationOut`, built from plugboard.engine.operations' value)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat

from plugboard.api.schemas import Name
from plugboard.api.text import Body
from plugboard.engine import rewire
from plugboard.engine.operations import Operation, Outcome, Verified, VnicResult
from plugboard.engine.tokens import Principal


class RewireCreate(Body):
    """Move every vNIC on network `from` (of the VMs `vms`, else of every VM) to `to`."""

    source: Name = Field(alias="from", description="The libvirt network the vNICs are on.")
    target: Name = Field(alias="to", description="The libvirt network they go to (active).")
    vms: list[Name] | None = Field(
        None, max_length=1024, description="Only the vNICs of these VMs; default: every VM's."
    )
    dry_run: StrictBool = Field(False, description="Only plan each vNIC's change: nothing changes.")
    verify: Literal["lease"] | None = Field(
        None,
        description="lease: wait for each re-wired active card of a running VM to get a DHCP "
        "lease on `to` (up to `verify_timeout` seconds) and report it.",
    )
    verify_timeout: StrictFloat = Field(
        rewire.VERIFY_TIMEOUT, gt=0, le=600, description="Seconds to wait for the leases."
    )

    def request(self, by: Principal, hotunplug_timeout: float) -> rewire.RewireRequest:
        return rewire.RewireRequest(
            self.source,
            self.target,
            by,
            vms=tuple(self.vms) if self.vms is not None else None,
            dry_run=self.dry_run,
            verify=self.verify,
            verify_timeout=self.verify_timeout,
            hotunplug_timeout=hotunplug_timeout,
        )


class ErrorOut(BaseModel):
    code: str
    detail: str


class VnicResultOut(BaseModel):
    vm: str
    vnic: str
    mac: str
    outcome: Outcome = Field(
        description="pending; planned (a dry run); ok; failed; rolled-back (moved, then back "
        "because another vNIC of its VM failed); skipped (not tried: another vNIC of its VM "
        "failed)"
    )
    plan: list[str] = Field(description="The kinds of its plan's steps (live-update, ...).")
    network: str | None = Field(description="The network it is wired to now.")
    slot_before: str | None = Field(description="Its PCI address before.")
    slot: str | None = Field(description="Its PCI address now (a dry run: as planned).")
    error: ErrorOut | None
    verify: Verified | None = Field(
        description="With verify lease: lease, no-lease (none before the deadline), or "
        "not-active (a stopped VM, an unplugged or unlinked card: not verified)."
    )
    lease_ip: str | None = Field(description="Its new lease's IP on `to`.")

    @classmethod
    def from_result(cls, result: VnicResult) -> VnicResultOut:
        error = ErrorOut(**result.error) if result.error is not None else None
        fields: dict[str, Any] = result.__dict__ | {"error": error}
        return cls.model_construct(**fields)


class OperationOut(BaseModel):
    id: str
    kind: Literal["rewire"]
    host: str
    user: str = Field(description="Who started it.")
    state: Literal["running", "finished"]
    params: dict[str, Any] = Field(description="As asked: from, to, vms, dry_run, verify.")
    total: int = Field(description="vNICs in the operation.")
    done: int = Field(description="vNICs finished (any outcome).")
    failed: int = Field(description="vNICs not where they were asked to go.")
    created_at: datetime
    finished_at: datetime | None
    results: list[VnicResultOut]

    @classmethod
    def from_operation(cls, operation: Operation) -> OperationOut:
        return cls.from_view(operation.view())

    @classmethod
    def from_view(cls, op: Operation) -> OperationOut:
        """From `Operation.view()`: a consistent copy."""
        return cls.model_construct(
            id=op.id,
            kind=op.kind,
            host=op.host,
            user=op.user,
            state=op.state,
            params=op.params,
            total=op.total,
            done=op.done,
            failed=op.failed,
            created_at=op.created_at,
            finished_at=op.finished_at,
            results=[VnicResultOut.from_result(r) for r in op.results],
        )
