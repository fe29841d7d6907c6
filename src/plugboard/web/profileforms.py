"""The vNIC profile form (name, source, QoS, VLANs, port mirroring, network filter) turned into
the API's profile body (ProfileCreate / ProfileUpdate), and a profile back into the form. The
body is then read by the API's own schema, so the page and the API refuse the same input in
the same words; each of the API's messages is shown next to the control it is about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugboard.api.profile_schemas import ProfileOut
from plugboard.errors import InvalidInput
from plugboard.netxml.model import MACVTAP_MODES
from plugboard.store.models import Profile
from plugboard.vnic.model import DEFAULT_MACVTAP_MODE, LIMITS
from plugboard.web.core import Form, Problem

__all__ = ["KINDS", "MACVTAP_MODES", "QOS", "ProfileForm", "profile_out"]

# The source kinds: (value, label), as the vNIC form's Network select groups them. A network
# is typed, not chosen: a profile is not bound to a host (each VM's host is asked for it).
KINDS = [
    ("network", "libvirt network"),
    ("bridge", "Linux bridge"),
    ("ovs", "Open vSwitch bridge"),
    ("macvtap", "macvtap device"),
]
# The source's name field, by kind (the API's key for it).
NAME_KEY = {"network": "network", "bridge": "bridge", "ovs": "bridge", "macvtap": "dev"}
# The QoS inputs: (control, direction, limit), one per limit libvirt takes.
QOS = [(f"{d}_{k}", d, k) for d, keys in LIMITS.items() for k in keys]
TEXTS: tuple[str, ...] = (
    *("name", "description", "kind", "source_name", "portgroup", "macvtap_mode", "vlans"),
    *("filter_name", "filter_parameters", *(q[0] for q in QOS)),
)
# What the plan says a profile change changes, in this order.
ASPECTS = ("source", "QoS", "VLANs", "port mirroring", "filter", "description")


def profile_out(profile: Profile) -> ProfileOut:
    """The profile as the API answers it: what the list and the form show."""
    return ProfileOut.from_profile(profile)


@dataclass
class ProfileForm:
    """The form as shown or as posted: every value as typed (checkboxes as booleans)."""

    fields: dict[str, str] = field(default_factory=dict)
    trunk: bool = False
    port_mirroring: bool = False

    def text(self, key: str) -> str:
        return self.fields.get(key, "")

    @classmethod
    def blank(cls) -> ProfileForm:
        return cls({"kind": "network", "macvtap_mode": DEFAULT_MACVTAP_MODE})

    @classmethod
    def posted(cls, posted: Form) -> ProfileForm:
        fields = {key: posted.text(key) for key in TEXTS}
        fields["filter_parameters"] = posted.get("filter_parameters", "").strip()
        return cls(fields, posted.get("trunk") == "on", posted.get("port_mirroring") == "on")

    @classmethod
    def of(cls, profile: Profile) -> ProfileForm:
        out = profile_out(profile)
        src = out.source
        fields = {
            "name": out.name,
            "description": out.description,
            "kind": src["type"],
            "source_name": src.get(NAME_KEY.get(src["type"], "network")) or "",
            "portgroup": src.get("portgroup") or "",
            "macvtap_mode": src.get("mode") or DEFAULT_MACVTAP_MODE,
        }
        tags, trunk = _tags_of(out)
        fields["vlans"] = ", ".join(map(str, tags))
        for key, direction, limit in QOS:
            value = ((out.bandwidth or {}).get(direction) or {}).get(limit)
            fields[key] = "" if value is None else str(value)
        if out.filter:
            fields["filter_name"] = out.filter["name"]
            params = out.filter["parameters"].items()
            fields["filter_parameters"] = "\n".join(f"{k}={v}" for k, v in params)
        return cls(fields, trunk, out.port_mirroring)

    # --- the API's body ----------------------------------------------------------------------
    def body(self, with_name: bool = True) -> dict[str, Any]:
        """The API's profile body; what is left empty is left out (the API's default)."""
        body: dict[str, Any] = {"name": self.text("name")} if with_name else {}
        if self.text("description"):
            body["description"] = self.text("description")
        body["source"] = self._source()
        bandwidth = self._bandwidth()
        if bandwidth:
            body["bandwidth"] = bandwidth
        if self.text("vlans"):
            body["vlan"] = {"tags": _numbers(self.text("vlans")), "trunk": self.trunk}
        body["port_mirroring"] = self.port_mirroring
        if self.text("filter_name") or self.text("filter_parameters"):
            body["filter"] = {
                "name": self.text("filter_name"),
                "parameters": _parameters(self.text("filter_parameters")),
            }
        return body

    def _source(self) -> dict[str, Any]:
        kind = self.text("kind") or "network"
        if kind not in NAME_KEY:
            raise InvalidInput(
                f"a source is one of {', '.join(NAME_KEY)}, not '{kind}'", field="kind"
            )
        source = {"type": kind, NAME_KEY[kind]: self.text("source_name")}
        if kind == "network" and self.text("portgroup"):
            source["portgroup"] = self.text("portgroup")
        if kind == "macvtap":
            source["mode"] = self.text("macvtap_mode") or DEFAULT_MACVTAP_MODE
        return source

    def _bandwidth(self) -> dict[str, dict[str, Any]]:
        """Only the directions with a value (an empty direction is no limit)."""
        found: dict[str, dict[str, Any]] = {}
        for key, direction, limit in QOS:
            if self.text(key):
                found.setdefault(direction, {})[limit] = _number(self.text(key))
        return found

    # --- in words, for the plan ----------------------------------------------------------------
    def words(self, aspect: str) -> str:
        """One of ASPECTS of the profile as typed, in words."""
        return getattr(self, "_words_" + aspect.replace(" ", "_").lower())()

    def _words_source(self) -> str:
        kind = self.text("kind")
        extra = {
            "network": f" port group {self.text('portgroup')}" if self.text("portgroup") else "",
            "macvtap": f" ({self.text('macvtap_mode')})",
        }.get(kind, "")
        return f"{dict(KINDS).get(kind, kind)} {self.text('source_name')}{extra}"

    def _words_qos(self) -> str:
        limits = [f"{k.replace('_', ' ')} {self.text(k)}" for k, _, _ in QOS if self.text(k)]
        return ", ".join(limits) or "none"

    def _words_vlans(self) -> str:
        if not self.text("vlans"):
            return "none"
        return ("trunk " if self.trunk else "") + self.text("vlans")

    def _words_port_mirroring(self) -> str:
        return "on" if self.port_mirroring else "off"

    def _words_filter(self) -> str:
        params = " ".join(self.text("filter_parameters").split())
        return f"{self.text('filter_name')} {params}".strip() or "none"

    def _words_description(self) -> str:
        return self.text("description") or "—"

    def changes(self, after: ProfileForm) -> list[tuple[str, str, str]]:
        """What `after` changes in this profile, in words: (what, before, after)."""
        shown = [(what, self.words(what), after.words(what)) for what in ASPECTS]
        return [(what, old, new) for what, old, new in shown if old != new]

    # --- the API's refusal, by control -------------------------------------------------------
    def errors(self, problem: Problem | None) -> dict[str, list[str]]:
        """The problem's messages by the control they are about (`form` for the rest)."""
        found: dict[str, list[str]] = {}
        for error in (problem.errors or []) if problem else []:
            found.setdefault(control_of(error["field"]), []).append(error["message"])
        return found


def control_of(loc: str) -> str:
    """The control an API error's location names: `source.network.network` is the source's
    name, `bandwidth.inbound.peak` the inbound peak, `vlan.tags.0` the VLANs."""
    parts = loc.removeprefix("body.").replace("[", ".").replace("]", "").split(".")
    head, last = parts[0], parts[-1]
    if head in ("name", "description", "port_mirroring", "kind", "vlans", "filter_parameters"):
        return head
    if head == "source":
        return _source_control(last, len(parts))
    if head == "bandwidth" and len(parts) >= 2 and parts[1] in LIMITS:
        limit = parts[2] if len(parts) > 2 and parts[2] in LIMITS[parts[1]] else "average"
        return f"{parts[1]}_{limit}"
    if head == "vlan":
        return "vlans"
    if head == "filter":
        return "filter_parameters" if "parameters" in parts else "filter_name"
    return "form"


def _source_control(last: str, depth: int) -> str:
    if last in ("network", "bridge", "dev") and depth > 2:
        return "source_name"
    if last in ("vlan", "trunk"):
        return "vlans"
    return {"portgroup": "portgroup", "mode": "macvtap_mode"}.get(last, "kind")


def _tags_of(out: ProfileOut) -> tuple[list[int], bool]:
    """The profile's VLANs, wherever the API puts them (an OVS source's vlan or trunk)."""
    if out.vlan:
        return list(out.vlan["tags"]), bool(out.vlan["trunk"])
    if out.source.get("trunk"):
        return list(out.source["trunk"]), True
    if out.source.get("vlan") is not None:
        return [out.source["vlan"]], False
    return [], False


def _number(text: str) -> int | str:
    """A number as typed; not a number, the text goes on and the schema names the field."""
    return int(text) if text.isdigit() else text


def _numbers(text: str) -> list[int | str]:
    return [_number(t) for t in (p.strip() for p in text.replace(" ", ",").split(",")) if t]


def _parameters(text: str) -> dict[str, str]:
    """KEY=VALUE lines (blank lines skipped); a line without `=` is refused by its number."""
    params: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InvalidInput(
                f"parameter line {number} '{line.strip()}' is not KEY=VALUE",
                field="filter.parameters",
            )
        params[key.strip()] = value.strip()
    return params
