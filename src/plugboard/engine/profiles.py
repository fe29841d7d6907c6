"""vNIC profiles (oVirt's): a source, QoS, VLANs, port mirroring and a network filter under one
name. A vNIC is wired to `profile: NAME` instead of a raw source: the profile expands into the
vNIC's fields (`expand`), and its name is kept in plugboard's record in the domain's metadata,
so the vNIC shows it and `virsh dumpxml` too.

A profile is not bound to a host: a network it names is looked up on the host of each VM (a
host without it refuses that vNIC, 422 NETWORK_NOT_FOUND, before anything changes there).

Changing a profile reaches every vNIC wired through it: plugboard.engine.profile_rollout.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugboard.engine import policy
from plugboard.engine.policy import Action
from plugboard.engine.tokens import Principal
from plugboard.errors import (
    InvalidInput,
    PlugboardError,
    ProfileExists,
    ProfileInUse,
    ProfileNotFound,
)
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Store
from plugboard.store.models import Profile, utcnow
from plugboard.vnic import Source, VlanTags
from plugboard.vnic.metadata import read_records
from plugboard.vnic.model import FilterRef, Limits

log = logging.getLogger(__name__)
# The vNIC fields a profile sets: a vNIC wired through a profile has these from it.
PROFILE_FIELDS = ("source", "bandwidth", "vlan", "filter")


@dataclass(frozen=True)
class ProfileSpec:
    name: str
    source: Source
    description: str = ""
    bandwidth: Limits = ()
    vlan: VlanTags | None = None
    port_mirroring: bool = False
    filter: FilterRef | None = None

    def fields(self) -> dict[str, Any]:
        """What the profile sets on a vNIC wired through it."""
        return {
            "source": self.source,
            "bandwidth": self.bandwidth,
            "vlan": self.vlan,
            "filter": self.filter,
            "profile": self.name,
        }


def spec_of(profile: Profile) -> ProfileSpec:
    data = profile.spec
    vlan, nwfilter = data.get("vlan"), data.get("filter")
    return ProfileSpec(
        name=profile.name,
        description=profile.description,
        source=Source(**data["source"]),
        bandwidth=tuple((k, v) for k, v in data.get("bandwidth", [])),
        vlan=VlanTags(tuple(vlan["tags"]), vlan["trunk"]) if vlan else None,
        port_mirroring=bool(data.get("port_mirroring", False)),
        filter=(
            FilterRef(nwfilter["name"], tuple((k, v) for k, v in nwfilter["parameters"]))
            if nwfilter
            else None
        ),
    )


def stored(spec: ProfileSpec) -> dict[str, Any]:
    return {
        "source": asdict(spec.source),
        "bandwidth": [list(pair) for pair in spec.bandwidth],
        "vlan": asdict(spec.vlan) if spec.vlan is not None else None,
        "port_mirroring": spec.port_mirroring,
        "filter": asdict(spec.filter) if spec.filter is not None else None,
    }


def check(spec: ProfileSpec) -> ProfileSpec:
    """What the schema cannot say: VLANs only where the source carries them."""
    if spec.vlan is not None and spec.source.type == "macvtap":
        raise InvalidInput(
            "a macvtap source carries no VLAN tags plugboard can set; leave vlan out",
            field="vlan",
        )
    return spec


# --- the store -------------------------------------------------------------------------------
def find(session: Session, name: str) -> Profile:
    found = session.scalar(select(Profile).where(Profile.name == name))
    if found is None:
        raise ProfileNotFound(
            f"no vNIC profile named '{name}'; `plugboard profile-list` shows the profiles"
        )
    return found


def list_profiles(session: Session) -> list[Profile]:
    return list(session.scalars(select(Profile).order_by(Profile.name)))


def get_profile(session: Session, name: str) -> Profile:
    return find(session, name)


def create_profile(session: Session, by: Principal, spec: ProfileSpec) -> Profile:
    policy.require(by, Action.ADMIN, "profiles")
    check(spec)
    if session.scalar(select(Profile).where(Profile.name == spec.name)) is not None:
        raise ProfileExists(
            f"a vNIC profile named '{spec.name}' exists; change it with profile-update"
        )
    profile = Profile(name=spec.name, created_at=utcnow())
    fill(profile, spec)
    session.add(profile)
    session.flush()
    return profile


def fill(profile: Profile, spec: ProfileSpec) -> None:
    profile.description = spec.description
    profile.spec = stored(spec)
    profile.updated_at = utcnow()


def expand(store: Store, fields: dict[str, Any]) -> tuple[dict[str, Any], ProfileSpec | None]:
    """A vNIC's asked fields with `profile: NAME` expanded into what the profile sets as
    stored (the API refuses a profile together with those fields), and the profile. Setting
    any of them without a profile wires the vNIC outside its profile: its profile name goes."""
    name = fields.get("profile")
    if name is not None and fields.get("source") is not None:
        return fields, None  # expanded already (a profile's change, brought to its vNICs)
    if name is None:
        touched = any(key in fields for key in PROFILE_FIELDS)
        return (fields | {"profile": None} if touched or "profile" in fields else fields), None
    with store.session() as db:
        spec = spec_of(find(db, name))
    return fields | spec.fields(), spec


# --- where a profile is used -----------------------------------------------------------------
@dataclass(frozen=True)
class ProfileUser:
    host: str
    vm: str
    vnic: str


def users(registry: HostRegistry, name: str) -> tuple[list[ProfileUser], list[str]]:
    """The vNICs wired through the profile on every host, and the hosts that could not be
    asked (unreachable)."""
    found: list[ProfileUser] = []
    unchecked: list[str] = []
    for host in registry.all():
        try:
            found += host.call(lambda lv, h=host.name: _users_on(lv, h, name))  # type: ignore[misc]
        except PlugboardError as err:
            log.info("host %s not asked for profile %s: %s", host.name, name, err.detail)
            unchecked.append(host.name)
    return found, unchecked


def _users_on(lv: Libvirt, host: str, name: str) -> list[ProfileUser]:
    seen: dict[tuple[str, str], ProfileUser] = {}
    for dom, root in lv.definitions():
        for record in read_records(root).values():
            if record.profile == name:
                seen[(dom.name, record.name)] = ProfileUser(host, dom.name, record.name)
    return sorted(seen.values(), key=lambda u: (u.vm, u.vnic))


def delete_profile(session: Session, registry: HostRegistry, by: Principal, name: str) -> None:
    """Delete a profile no vNIC is wired through (409 PROFILE_IN_USE lists them)."""
    policy.require(by, Action.ADMIN, "profiles")
    profile = find(session, name)
    using, unchecked = users(registry, name)
    if using:
        listed = ", ".join(f"{u.vm}/{u.vnic} on {u.host}" for u in using[:20])
        more = f" and {len(using) - 20} more" if len(using) > 20 else ""
        raise ProfileInUse(
            f"vNICs are wired through profile '{name}': {listed}{more}; wire them elsewhere first",
            vnics=[asdict(u) for u in using],
        )
    if unchecked:
        raise ProfileInUse(
            f"hosts {', '.join(unchecked)} cannot be reached, so whether their vNICs use "
            f"profile '{name}' is not known; delete it when they are back",
            vnics=[],
        )
    session.delete(profile)
