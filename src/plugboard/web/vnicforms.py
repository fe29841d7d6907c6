"""A vNIC card's forms, turned into the API's PATCH body (VnicUpdate): the toggles send one
field, the edit form its Network select (with a macvtap mode or Open vSwitch VLANs), MAC and
model; only what differs from the card is sent. "Add a vNIC" and the new VM form are turned
into the API's POST bodies (VnicCreate, VmCreate). The body is then read as the API reads it, so
the page and the API refuse the same input in the same words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugboard.api.vm_schemas import source_config
from plugboard.engine.vm_state import VnicState
from plugboard.errors import InvalidInput
from plugboard.hostnet.model import Listing
from plugboard.netxml.model import MACVTAP_MODES
from plugboard.vnic.model import DEFAULT_MACVTAP_MODE, MODELS, Limits, Vnic
from plugboard.web.core import Form

NO_NETWORK = "none"
__all__ = [
    "MACVTAP_MODES",
    "MODELS",
    "Choices",
    "body_from",
    "changes",
    "choice_of",
    "new_vm_body",
    "new_vnic_body",
]


@dataclass
class Choices:
    """What the Network select offers: the host's networks and interfaces by kind."""

    networks: list[str]
    bridges: list[str]
    macvtap_devs: list[str]
    ovs_bridges: list[str]
    cannot_list: str | None = None  # why the host's interfaces are missing, if they are

    @property
    def new_vnic(self) -> dict[str, Any]:
        """The "Add a vNIC" form's values at first: the first network, virtio."""
        first = f"network:{self.networks[0]}" if self.networks else NO_NETWORK
        return {"source": first, "model": "virtio", "macvtap_mode": DEFAULT_MACVTAP_MODE}

    @classmethod
    def of(cls, networks: list[str], listing: Listing | None, why: str | None) -> Choices:
        ifaces = listing.interfaces if listing is not None else []
        return cls(
            networks=networks,
            bridges=[i.name for i in ifaces if i.type == "bridge"],
            macvtap_devs=[i.name for i in ifaces if i.type in ("nic", "bond", "vlan")],
            ovs_bridges=[i.name for i in ifaces if i.type == "ovs-bridge"],
            cannot_list=why,
        )


def choice_of(card: VnicState) -> dict[str, Any]:
    """The edit form's values for the card as it is: the select's value, mode, VLANs."""
    src = source_config(card.vnic.source, card.vnic.vlan)
    if src is None:
        return {"source": NO_NETWORK}
    kind = src["type"]
    name = {"network": "network", "bridge": "bridge", "ovs": "bridge", "macvtap": "dev"}.get(kind)
    value = f"{kind}:{src[name]}" if name else f"other:{kind}"
    vlans = src.get("trunk") or ([src["vlan"]] if src.get("vlan") is not None else [])
    return {
        "source": value,
        "macvtap_mode": src.get("mode") or DEFAULT_MACVTAP_MODE,
        "ovs_vlans": ",".join(map(str, vlans)),
        "ovs_trunk": bool(src.get("trunk")),
    }


def body_from(posted: Form, card: VnicState) -> dict[str, Any]:
    """The PATCH body a card's form asks for (only what differs from the card)."""
    body: dict[str, Any] = {}
    for toggle in ("plugged", "linked"):
        if toggle in posted:
            body[toggle] = _bool(posted.text(toggle), toggle)
    if "source" in posted:
        body |= _wiring(posted, card)
        mac = posted.text("mac").lower()
        if mac != card.vnic.mac:
            body["mac"] = mac or None
        model = posted.text("model")
        if model != card.vnic.model:
            body["model"] = model or None
    return body


def wiring(posted: Form) -> dict[str, Any]:
    """A new vNIC's Network select, MAC (left empty: the pool's next) and model."""
    body: dict[str, Any] = {"source": _source(posted)}
    if posted.text("mac"):
        body["mac"] = posted.text("mac").lower()
    if posted.text("model"):
        body["model"] = posted.text("model")
    return body


def new_vnic_body(posted: Form) -> dict[str, Any]:
    """The POST body of the "Add a vNIC" form (VnicCreate): its wiring, a name (left empty:
    the next nicN), plugged and linked."""
    body = wiring(posted)
    body |= {"plugged": posted.get("plugged") == "on", "linked": posted.get("linked") == "on"}
    if posted.text("name"):
        body["name"] = posted.text("name")
    return body


def new_vm_body(posted: Form) -> dict[str, Any]:
    """The POST body of the new VM form (VmCreate): name, template, size, boot and a first
    vNIC (none when its Network is "No vNIC"); what is left empty is the template's or the
    default."""
    body: dict[str, Any] = {"name": posted.text("name")}
    for field in ("template", "memory_mib", "vcpus", "hotplug_slots"):
        if posted.text(field):
            body[field] = posted.text(field)
    boot = {k: posted.text(k) for k in ("kernel", "initrd", "cmdline", "disk") if posted.text(k)}
    if boot:
        body["boot"] = boot
    if posted.text("source") not in ("", NO_NETWORK):
        body["nics"] = [wiring(posted)]
    return body


def _bool(text: str, field: str) -> bool:
    if text not in ("true", "false"):
        raise InvalidInput(f"{field} must be true or false", field=field)
    return text == "true"


def _wiring(posted: Form, card: VnicState) -> dict[str, Any]:
    """The card's wiring as its form asks: through the Profile chosen (the Network select is
    then the profile's to say), or its own source; "none" keeps the wiring the profile gave
    and forgets the profile, unless another source is chosen."""
    now = card.vnic.profile
    asked = posted.text("profile") if "profile" in posted else (now or "")
    if asked:
        return {"profile": asked} if asked != now else {}
    if _source_changed(posted, card):
        return {"source": _source(posted)}
    return {"profile": None} if now else {}


def _source_changed(posted: Form, card: VnicState) -> bool:
    now = choice_of(card)
    asked = posted.text("source")
    if asked != now["source"]:
        return True
    if asked.startswith("macvtap:"):
        return posted.text("macvtap_mode") != now["macvtap_mode"]
    if asked.startswith("ovs:"):
        trunk = posted.get("ovs_trunk") == "on"
        return _vlans(posted) != _split(now["ovs_vlans"]) or trunk != now["ovs_trunk"]
    return False


def _source(posted: Form) -> dict[str, Any] | None:
    value = posted.text("source")
    if value == NO_NETWORK:
        return None
    kind, _, name = value.partition(":")
    if kind == "network":
        return {"type": "network", "network": name}
    if kind == "bridge":
        return {"type": "bridge", "bridge": name}
    if kind == "macvtap":
        return {"type": "macvtap", "dev": name, "mode": posted.text("macvtap_mode") or None}
    if kind == "ovs":
        vlans = _vlans(posted)
        if posted.get("ovs_trunk") == "on":
            return {"type": "ovs", "bridge": name, "trunk": vlans or None}
        if len(vlans) > 1:
            raise InvalidInput(
                "an access port has one VLAN; tick trunk for several", field="source.vlan"
            )
        return {"type": "ovs", "bridge": name, "vlan": vlans[0] if vlans else None}
    raise InvalidInput(f"'{value}' is not a network this page offers", field="source")


def _vlans(posted: Form) -> list[Any]:
    return _split(posted.text("ovs_vlans"))


def _split(text: str) -> list[Any]:
    """VLAN tags as typed: numbers stay numbers; anything else is left to the API's schema."""
    return [int(t) if t.isdigit() else t for t in (p.strip() for p in text.split(",")) if t]


def changes(before: Vnic, after: Vnic) -> list[tuple[str, str, str]]:
    """What a plan changes, in words: (what, before, after)."""
    pairs = [
        ("source", _source_text(before), _source_text(after)),
        ("profile", before.profile or "none", after.profile or "none"),
        ("QoS", limits_text(before.bandwidth), limits_text(after.bandwidth)),
        ("VLANs", vlans_text(before), vlans_text(after)),
        ("filter", filter_text(before), filter_text(after)),
        ("MAC", before.mac, after.mac),
        ("model", before.model, after.model),
        ("plugged", _yes(before.plugged), _yes(after.plugged)),
        ("link", _up(before.linked), _up(after.linked)),
    ]
    return [(what, old, new) for what, old, new in pairs if old != new]


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _up(value: bool) -> str:
    return "up" if value else "down"


def _source_text(vnic: Vnic) -> str:
    src = source_config(vnic.source, vnic.vlan)
    if src is None:
        return "no network"
    if src["type"] == "network":
        return f"network {src['network']}"
    if src["type"] == "bridge":
        return f"Linux bridge {src['bridge']}"
    if src["type"] == "macvtap":
        return f"macvtap on {src['dev']} ({src['mode']})"
    if src["type"] == "ovs":
        vlans = f" trunk {src['trunk']}" if src.get("trunk") else ""
        vlans = f" VLAN {src['vlan']}" if src.get("vlan") is not None else vlans
        return f"Open vSwitch {src['bridge']}{vlans}"
    return str(src["type"])


def limits_text(limits: Limits) -> str:
    """QoS in words: `inbound.average 1000, outbound.peak 2000` (kB/s; a burst in kB)."""
    return ", ".join(f"{key} {value}" for key, value in limits) or "none"


def vlans_text(vnic: Vnic) -> str:
    """VLANs not already said by the source's words (an Open vSwitch port's are)."""
    if vnic.vlan is None or (vnic.source is not None and vnic.source.type == "ovs"):
        return "none"
    return ("trunk " if vnic.vlan.trunk else "") + ", ".join(map(str, vnic.vlan.tags))


def filter_text(vnic: Vnic) -> str:
    ref = vnic.filter
    if ref is None:
        return "none"
    return " ".join([ref.name] + [f"{k}={v}" for k, v in ref.parameters])
