"""Templates: what new VMs are made of. Besides size and boot, a template names the libvirt
networks a VM gets a vNIC on and the host interfaces it is attached to directly (the Kimchi
RFC's proposal 2): `interfaces: [{type: macvtap|ovs|bridge, source: [names], mode}]`, one vNIC
per name. Templates are not bound to a host: what they name is checked on the host a VM is
created on, before anything is created there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugboard.engine import policy
from plugboard.engine.policy import Action
from plugboard.engine.tokens import Principal
from plugboard.engine.vm_spec import HOTPLUG_SLOTS, check_boot
from plugboard.errors import InvalidInput, TemplateExists, TemplateNotFound
from plugboard.store.models import Template, utcnow
from plugboard.vnic import Source
from plugboard.vnic.model import DEFAULT_MACVTAP_MODE

# The kinds of host interface a template attaches VMs to directly: vNIC source types.
TemplateInterfaceType = Literal["macvtap", "ovs", "bridge"]
TEMPLATE_INTERFACE_TYPES: tuple[TemplateInterfaceType, ...] = get_args(TemplateInterfaceType)


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    boot: dict[str, Any]
    memory_mib: int = 256
    vcpus: int = 1
    domain_type: str = "auto"
    networks: list[str] = field(default_factory=list)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    nic_model: str = "virtio"
    hotplug_slots: int = HOTPLUG_SLOTS


def check(spec: TemplateSpec) -> TemplateSpec:
    """The rules the API's schema cannot say (it checks types and modes); INVALID_INPUT names
    the field."""
    check_boot(spec.boot.get("kernel"), spec.boot.get("disk"))
    for i, iface in enumerate(spec.interfaces):
        if iface.get("mode") is not None and iface["type"] != "macvtap":
            raise InvalidInput(
                f"mode applies to macvtap interfaces only, not to {iface['type']}",
                field=f"interfaces[{i}].mode",
            )
    return spec


def _find(session: Session, name: str) -> Template:
    found = session.scalar(select(Template).where(Template.name == name))
    if found is None:
        raise TemplateNotFound(
            f"no template named '{name}'; `plugboard template-list` shows the templates"
        )
    return found


def list_templates(session: Session) -> list[Template]:
    return list(session.scalars(select(Template).order_by(Template.name)))


def get_template(session: Session, name: str) -> Template:
    return _find(session, name)


def _fill(template: Template, spec: TemplateSpec) -> Template:
    for key in (
        "memory_mib",
        "vcpus",
        "domain_type",
        "boot",
        "networks",
        "nic_model",
        "hotplug_slots",
    ):
        setattr(template, key, getattr(spec, key))
    template.interfaces = [
        {"type": i["type"], "source": list(i["source"]), "mode": _mode(i)} for i in spec.interfaces
    ]
    template.updated_at = utcnow()
    return template


def _mode(iface: dict[str, Any]) -> str | None:
    return (iface.get("mode") or DEFAULT_MACVTAP_MODE) if iface["type"] == "macvtap" else None


def create_template(session: Session, by: Principal, spec: TemplateSpec) -> Template:
    policy.require(by, Action.ADMIN, "templates")
    check(spec)
    if session.scalar(select(Template).where(Template.name == spec.name)) is not None:
        raise TemplateExists(
            f"a template named '{spec.name}' exists; change it with template-update or delete it"
        )
    template = _fill(Template(name=spec.name, created_at=utcnow()), spec)
    session.add(template)
    session.flush()
    return template


def replace_template(session: Session, by: Principal, name: str, spec: TemplateSpec) -> Template:
    policy.require(by, Action.ADMIN, "templates")
    if spec.name != name:
        raise InvalidInput(
            f"the body names template '{spec.name}', the path '{name}'; a template is not "
            "renamed (create one under the new name)",
            field="name",
        )
    check(spec)
    return _fill(_find(session, name), spec)


def delete_template(session: Session, by: Principal, name: str) -> None:
    policy.require(by, Action.ADMIN, "templates")
    session.delete(_find(session, name))


def vnic_fields(template: Template) -> list[dict[str, Any]]:
    """The vNICs a VM made from the template gets, in order: one per network, then one per
    name of each interface."""
    fields = [
        {"source": Source("network", network=network), "model": template.nic_model}
        for network in template.networks
    ]
    for iface in template.interfaces:
        kind = iface["type"]
        for name in iface["source"]:
            source = (
                Source("macvtap", dev=name, mode=iface["mode"], attachment="macvtap")
                if kind == "macvtap"
                else Source(kind, bridge=name)
            )
            fields.append({"source": source, "model": template.nic_model})
    return fields
