"""The template form (name, size, boot, its vNICs as rows) turned into the API's template
body (TemplateCreate / TemplateUpdate), and a template back into the form. The body is then
read by the API's own schema, so the page and the API refuse the same input in the same words.

A template's vNICs are libvirt networks (one vNIC each) and host interfaces grouped by kind
(`interfaces: [{type, source: [names], mode}]`); the form shows one row per vNIC, in the order
a VM gets them: the networks first, then the host interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugboard.engine.vm_spec import HOTPLUG_SLOTS
from plugboard.errors import InvalidInput
from plugboard.netxml.model import MACVTAP_MODES
from plugboard.store.models import Template
from plugboard.vnic.model import DEFAULT_MACVTAP_MODE, MODELS
from plugboard.web.core import Form, Problem

__all__ = ["KINDS", "MACVTAP_MODES", "MODELS", "NicRow", "TemplateForm", "rows_of"]

# A row's kinds: (value, label). "network" is a libvirt network; the others host interfaces.
KINDS = [
    ("network", "Network"),
    ("bridge", "Linux bridge"),
    ("macvtap", "macvtap device"),
    ("ovs", "Open vSwitch bridge"),
]
SCALARS = ("memory_mib", "vcpus", "domain_type", "hotplug_slots", "nic_model")
BOOT = ("kernel", "initrd", "cmdline", "disk")
MAX_ROWS = 64  # the API takes 28 networks and 28 interfaces


@dataclass(frozen=True)
class NicRow:
    kind: str = "network"
    name: str = ""
    mode: str = DEFAULT_MACVTAP_MODE


def rows_of(template: Template) -> list[NicRow]:
    """The template's vNICs, one row each, in the order a VM made from it gets them."""
    rows = [NicRow("network", n) for n in template.networks]
    for iface in template.interfaces:
        mode = iface.get("mode") or DEFAULT_MACVTAP_MODE
        rows.extend(NicRow(iface["type"], name, mode) for name in iface["source"])
    return rows


@dataclass
class TemplateForm:
    """The form as shown or as posted: every value as typed, the vNICs as rows."""

    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    rows: list[NicRow] = field(default_factory=list)
    # Which row an API error's field names (`networks.0`, `interfaces.1.source.0`), from body().
    locs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def blank(cls) -> TemplateForm:
        return cls(fields={"memory_mib": "256", "vcpus": "1", "domain_type": "auto",
                           "hotplug_slots": str(HOTPLUG_SLOTS), "nic_model": "virtio"})  # fmt: skip

    @classmethod
    def of(cls, template: Template) -> TemplateForm:
        fields = {key: str(getattr(template, key)) for key in SCALARS}
        fields |= {key: str(template.boot.get(key) or "") for key in BOOT}
        return cls(template.name, fields, rows_of(template))

    @classmethod
    def posted(cls, posted: Form) -> TemplateForm:
        """The posted form; rows without a name are left out (the empty row to add, or a row
        whose name was cleared to remove it)."""
        fields = {key: posted.text(key) for key in SCALARS + BOOT}
        count = min(_count(posted.text("nics")), MAX_ROWS)
        rows = [
            NicRow(posted.text(f"nic{i}_kind") or "network", posted.text(f"nic{i}_name"),
                   posted.text(f"nic{i}_mode") or DEFAULT_MACVTAP_MODE)
            for i in range(count)
        ]  # fmt: skip
        return cls(posted.text("name"), fields, [r for r in rows if r.name])

    def shown_rows(self, empty: int = 1) -> list[NicRow]:
        """The rows the form shows: the vNICs, then `empty` rows to add more."""
        return self.rows + [NicRow()] * empty

    def body(self, with_name: bool = True) -> dict[str, Any]:
        """The API's template body; a field left empty is left out (the API's default)."""
        body: dict[str, Any] = {"name": self.name} if with_name else {}
        body |= {key: value for key, value in self.fields.items() if key in SCALARS and value}
        body["boot"] = {k: v for k, v in self.fields.items() if k in BOOT and v}
        networks: list[str] = []
        interfaces: list[dict[str, Any]] = []
        group: tuple[str, str | None] | None = None
        self.locs = {}
        for i, row in enumerate(self.rows):
            if row.kind == "network":
                self.locs[f"networks.{len(networks)}"] = i
                networks.append(row.name)
                continue
            if row.kind not in dict(KINDS):
                raise InvalidInput(
                    f"a vNIC's kind is one of {', '.join(dict(KINDS))}, not '{row.kind}'",
                    field=f"nic{i}",
                )
            mode = row.mode if row.kind == "macvtap" else None
            if (row.kind, mode) != group:  # a new entry; the same kind and mode share one
                group = (row.kind, mode)
                self.locs[f"interfaces.{len(interfaces)}"] = i
                interfaces.append(
                    {"type": row.kind, "source": []} | ({"mode": mode} if mode else {})
                )
            sources: list[str] = interfaces[-1]["source"]
            self.locs[f"interfaces.{len(interfaces) - 1}.source.{len(sources)}"] = i
            sources.append(row.name)
        body["networks"] = networks
        body["interfaces"] = interfaces
        return body

    def errors(self, problem: Problem | None) -> dict[str, list[str]]:
        """The problem's messages by the control they are about: a field's name
        (`memory_mib`, `kernel`), `nicN` for a vNIC row, `boot` or `form` for the rest."""
        found: dict[str, list[str]] = {}
        for error in (problem.errors or []) if problem else []:
            found.setdefault(self._control(error["field"]), []).append(error["message"])
        return found

    def _control(self, loc: str) -> str:
        loc = loc.removeprefix("body.").replace("[", ".").replace("]", "")
        if loc in SCALARS or loc == "name" or loc.startswith("nic"):
            return loc
        if loc.startswith("boot."):
            return loc.split(".")[1]
        about = [p for p in self.locs if loc == p or loc.startswith(p + ".")]
        if about:  # the most precise: a group's source before the group
            return f"nic{self.locs[max(about, key=len)]}"
        return "boot" if loc == "boot" else "form"


def _count(text: str) -> int:
    return int(text) if text.isdigit() else 0
