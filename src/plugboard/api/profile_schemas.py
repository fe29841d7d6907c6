"""Request and response bodies of vNIC profiles (/api/v1/profiles), and the answer of a
profile change: each vNIC wired through it, and how it went."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from plugboard.api.schemas import Name
from plugboard.api.text import Body, with_rules
from plugboard.api.vm_schemas import (
    CONVERT,
    VLANS_ONCE,
    OvsSource,
    VnicBandwidth,
    VnicFilter,
    VnicSource,
    VnicVlan,
    bandwidth_config,
    filter_config,
    ovs_vlan,
    source_config,
    vlan_config,
)
from plugboard.engine.profile_rollout import ProfileChange
from plugboard.engine.profiles import ProfileSpec, spec_of
from plugboard.store.models import Profile

# libvirt sets VLAN tags on Open vSwitch ports and some SR-IOV NICs: not on a macvtap.
_NO_VLAN_ON_MACVTAP = {
    "not": {
        "required": ["vlan", "source"],
        "properties": {
            "vlan": {"not": {"type": "null"}},
            "source": {
                "required": ["type"],
                "properties": {"type": {"enum": ["macvtap", "direct"]}},
            },
        },
    }
}


class ProfileFields(Body):
    model_config = ConfigDict(
        json_schema_extra=with_rules({"allOf": [VLANS_ONCE, _NO_VLAN_ON_MACVTAP]})
    )

    description: str = Field("", max_length=256)
    source: VnicSource = Field(
        description="A libvirt network (looked up on the host of each VM), a Linux bridge, an "
        "Open vSwitch bridge (with its VLANs) or a macvtap device"
    )
    bandwidth: VnicBandwidth | None = Field(None, description="QoS of each vNIC")
    vlan: VnicVlan | None = Field(None, description="VLAN tags, where the source allows them")
    port_mirroring: StrictBool = Field(
        False, description="Each vNIC receives a copy of all traffic on its network"
    )
    filter: VnicFilter | None = None

    def spec_for(self, name: str) -> ProfileSpec:
        source = CONVERT["source"](self.source)
        vlan = CONVERT["vlan"](self.vlan)
        if isinstance(self.source, OvsSource):
            vlan = ovs_vlan(self.source, self)
        return ProfileSpec(
            name=name,
            description=self.description,
            source=source,
            bandwidth=CONVERT["bandwidth"](self.bandwidth),
            vlan=vlan,
            port_mirroring=self.port_mirroring,
            filter=CONVERT["filter"](self.filter),
        )


class ProfileCreate(ProfileFields):
    name: Name


class ProfileUpdate(ProfileFields):
    """The whole profile (PUT replaces it); its name is the path's."""


class ProfileOut(BaseModel):
    name: str
    description: str
    source: dict[str, Any]
    bandwidth: dict[str, Any] | None
    vlan: dict[str, Any] | None
    port_mirroring: bool
    filter: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_profile(cls, profile: Profile) -> ProfileOut:
        spec = spec_of(profile)
        return cls(
            name=profile.name,
            description=profile.description,
            source=source_config(spec.source, spec.vlan) or {},
            bandwidth=bandwidth_config(spec.bandwidth),
            vlan=vlan_config(spec.vlan),
            port_mirroring=spec.port_mirroring,
            filter=filter_config(spec.filter),
            created_at=profile.created_at,
            updated_at=profile.updated_at,
        )


class VnicOutcomeOut(BaseModel):
    host: str
    vm: str
    vnic: str
    outcome: str = Field(
        description="ok (brought to the profile), unchanged (it was already), planned (a dry "
        "run), failed (undone: it is as it was; `error` says why)"
    )
    plan: list[str] = Field(description="live-update, or unplug and plug into the same slot, ...")
    pci_address: str | None
    error: dict[str, str] | None


class ProfileChangeOut(BaseModel):
    applied: bool = Field(description="false for a dry run (nothing changed)")
    profile: ProfileOut
    vnics: list[VnicOutcomeOut] = Field(description="Every vNIC wired through the profile")
    failed: int
    unchecked_hosts: list[str] = Field(
        description="Hosts that could not be reached: their vNICs get the change when asked again"
    )

    @classmethod
    def from_change(cls, change: ProfileChange, applied: bool) -> ProfileChangeOut:
        return cls(
            applied=applied,
            profile=ProfileOut.from_profile(change.profile),
            vnics=[VnicOutcomeOut(**o.__dict__) for o in change.vnics],
            failed=sum(o.outcome == "failed" for o in change.vnics),
            unchecked_hosts=change.unchecked_hosts,
        )
