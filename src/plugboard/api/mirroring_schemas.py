"""Bodies of a vNIC's mirroring: /api/v1/hosts/{host}/vms/{vm}/nics/{nic}/mirroring."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from plugboard.api.text import Body
from plugboard.engine.mirroring import MirroringChange, MirroringView

VnicRef = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"),
    Field(description="A vNIC of a VM on the same host, as VM/NIC (web1/nic1)."),
]


class MirroringUpdate(Body):
    """Both off (false and empty): mirroring off. `port_mirroring` with `mirror_of` is 409
    MIRRORING_CONFLICT."""

    port_mirroring: bool = Field(
        False, description="Receive a copy of every frame on the vNIC's network (oVirt's meaning)."
    )
    mirror_of: list[VnicRef] = Field(
        default_factory=list,
        max_length=64,
        description="Receive a copy of what these vNICs send and receive, on any network of "
        "the host (409 MIRRORED_VNIC_NOT_FOUND for one the host does not have).",
    )


class MirroringOut(BaseModel):
    vm: str
    nic: str
    port_mirroring: bool
    mirror_of: list[str]
    applied: list[str] = Field(
        description="The rules that copy frames to this vNIC now (tc filters, Mirror rows)."
    )
    notes: list[str] = Field(description="What is not mirrored now, and why.")

    @classmethod
    def from_view(cls, view: MirroringView) -> MirroringOut:
        return cls(
            vm=view.vm,
            nic=view.nic,
            port_mirroring=view.setting.port_mirroring,
            mirror_of=list(view.setting.mirror_of),
            applied=view.applied,
            notes=view.notes,
        )


def described(change: MirroringChange) -> str:
    """The audit log's words for a change of mirroring."""
    view = change.view
    before, after = _words(change.before), _words(view.setting)
    if before == after:
        return f"{view.nic} mirroring already {after}: nothing to do"
    return f"{view.nic} mirroring {before} → {after} (live, no unplug)"


def _words(setting) -> str:
    if setting.port_mirroring:
        return "on (whole network)"
    if setting.mirror_of:
        return f"on (of {', '.join(setting.mirror_of)})"
    return "off"
