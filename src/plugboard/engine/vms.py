"""VMs (libvirt domains) on a host: every domain is listed, also those made with virsh or
virt-manager; plugboard creates simple ones (kernel + initrd, or a disk image) with vNICs,
from a template or not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from plugboard.engine import grants, journal, macpool, policy, templates
from plugboard.engine.hosts import get_host
from plugboard.engine.locks import MAC_LOCK, holding
from plugboard.engine.policy import Action, host_object, vm_object
from plugboard.engine.sources import check_network_active, ensure_blackhole, resolve
from plugboard.engine.tokens import Principal, TokenCache
from plugboard.engine.vm_spec import (
    HOTPLUG_SLOTS,
    VmSpec,
    add_root_ports,
    check_boot,
    domain_xml,
)
from plugboard.engine.vm_state import VnicState, add_ips, read_vm
from plugboard.engine.vnic_notes import annotate
from plugboard.engine.vnics import next_name
from plugboard.errors import (
    FileNotFound,
    InvalidInput,
    MacAddressInUse,
    PlugboardError,
    VmExists,
    VmStateConflict,
)
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.errors import refused_as
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Store
from plugboard.vnic import Vnic
from plugboard.vnic.slots import domain_slots
from plugboard.vnic.xml import BLACKHOLE

log = logging.getLogger(__name__)
DEFAULT_MEMORY_MIB = 256
DEFAULT_VCPUS = 1


@dataclass
class VmView:
    name: str
    uuid: str
    state: str
    persistent: bool
    autostart: bool
    memory_mib: int
    vcpus: int
    domain_type: str | None
    # Free PCI slots for new cards (the running VM's, or at its start); None: not a machine
    # whose slots plugboard knows (plugboard.vnic.slots.modelled)
    hotplug_slots_free: int | None
    vnics: list[VnicState] = field(default_factory=list)
    hotplug_slots_at_start: int | None = None  # in the definition (read for one VM only)


def _view(dom: LibvirtDomain, lv: Libvirt | None = None) -> VmView:
    """The VM as listed (`lv`: with its vNICs' addresses from the DHCP leases)."""
    state, max_mem_kib, vcpus = dom.info()
    vm = read_vm(dom)
    if lv is not None:
        add_ips(lv, vm)
    return VmView(
        name=dom.name,
        uuid=dom.uuid,
        state=state,
        persistent=vm.persistent,
        autostart=dom.autostart() if vm.persistent else False,
        memory_mib=max_mem_kib // 1024,
        vcpus=vcpus,
        domain_type=vm.root.get("type"),
        hotplug_slots_free=_free_count(vm.root),
        vnics=list(vm.vnics.values()),
    )


def _free_count(root: etree._Element) -> int | None:
    slots = domain_slots(root)
    return len(slots.free_for_new) if slots is not None else None


def ensure_hotplug_slots(lv: Libvirt, dom: LibvirtDomain, wanted: int) -> LibvirtDomain:
    """The VM's definition with at least `wanted` free PCI slots (PCIe root ports) for new
    cards; a running VM gets them at its next start."""
    root = dom.tree(inactive=True)
    slots = domain_slots(root)
    if slots is None:
        raise InvalidInput(
            f"VM '{dom.name}' is not a q35 (PCIe) machine with root ports only: its hot-plug "
            "slots are its PCI buses' own, which plugboard does not change",
            field="hotplug_slots",
        )
    missing = wanted - len(slots.free_for_new)
    if missing <= 0:
        return dom
    devices = root.find("devices")
    assert devices is not None
    add_root_ports(devices, missing)
    return lv.define_domain(etree.tostring(root, encoding="unicode"))


def set_hotplug_slots(
    host: HostConnection, store: Store, by: Principal, name: str, wanted: int
) -> VmView:
    """At least `wanted` free PCI slots at the VM's next start (now, for a stopped VM)."""
    policy.require(by, Action.OPERATE, vm_object(host.name, name))

    def run(lv: Libvirt) -> VmView:
        dom = lv.domain(name)
        with holding(store, host.name, dom.uuid):
            if not dom.is_persistent():
                raise VmStateConflict(
                    f"VM '{name}' has no definition (a transient VM): its slots are fixed"
                )
            with refused_as(lambda words: InvalidInput(f"libvirt refused the slots: {words}")):
                ensure_hotplug_slots(lv, dom, wanted)
        return _one(lv, store, host.name, name)

    return host.call(run)


def list_vms(host: HostConnection, by: Principal, *, ips: bool = False) -> list[VmView]:
    """Every VM of the host `by` may see (`ips`: with its vNICs' addresses, from the DHCP
    leases)."""
    policy.require(by, Action.SEE, host_object(host.name))

    def read(lv: Libvirt) -> list[VmView]:
        domains = policy.keep_visible(by, lv.domains(), lambda d: vm_object(host.name, d.name))
        return sorted((_view(d, lv if ips else None) for d in domains), key=lambda v: v.name)

    return host.call(read)


def get_vm(
    host: HostConnection, store: Store, by: Principal, name: str, *, ips: bool = False
) -> VmView:
    """One VM, its vNICs with what the store adds to them (`ips`: and their addresses)."""
    policy.require(by, Action.SEE, vm_object(host.name, name))
    return host.call(lambda lv: _one(lv, store, host.name, name, ips=ips))


def _one(lv: Libvirt, store: Store, host: str, name: str, *, ips: bool = False) -> VmView:
    dom = lv.domain(name)
    view = _view(dom)
    state = read_vm(dom, definition=True)
    if ips:
        add_ips(lv, state)
    annotate(store, host, state, journal.vm_notes(store, host, dom.uuid))
    view.vnics = list(state.vnics.values())
    if state.persistent:
        definition = dom.tree(inactive=True) if state.running else state.root
        view.hotplug_slots_at_start = _free_count(definition)
    return view


# --- creating ----------------------------------------------------------------------------------
@dataclass
class VmRequest:
    """A VM as a client asks for it; what it leaves out comes from its template, if it names
    one, else from the defaults (and the host's domain type)."""

    name: str
    template: str | None = None
    memory_mib: int | None = None
    vcpus: int | None = None
    boot: dict[str, str] | None = None  # kernel, initrd, cmdline, disk
    domain_type: str | None = None
    vnics: list[dict[str, Any]] = field(default_factory=list)  # after the template's
    hotplug_slots: int | None = None


@dataclass
class VmCreated:
    vm: VmView
    unchecked_hosts: list[str]  # hosts the new vNICs' MACs could not be checked on


def spec_for(
    db: Session, registry: HostRegistry, by: Principal, host: str, req: VmRequest
) -> VmSpec:
    """The VM to make: the request over its template over the defaults."""
    made = templates.get_template(db, req.template) if req.template else None
    boot = req.boot if req.boot is not None else (made.boot if made else None)
    if boot is None:
        raise InvalidInput("boot is required when no template is given", field="boot")
    domain_type = req.domain_type or (made.domain_type if made else "auto")
    if domain_type == "auto":
        domain_type = get_host(db, registry, by, host).domain_type or "qemu"
    return VmSpec(
        name=req.name,
        memory_mib=req.memory_mib or (made.memory_mib if made else DEFAULT_MEMORY_MIB),
        vcpus=req.vcpus or (made.vcpus if made else DEFAULT_VCPUS),
        domain_type=domain_type,
        **boot,
        vnics=(templates.vnic_fields(made) if made else []) + req.vnics,
        hotplug_slots=_first(req.hotplug_slots, made.hotplug_slots if made else None),
    )


def _first(*values: int | None) -> int:
    return next((v for v in values if v is not None), HOTPLUG_SLOTS)


def create_vm(
    db: Session,
    store: Store,
    registry: HostRegistry,
    host: HostConnection,
    by: Principal,
    tokens: TokenCache,
    req: VmRequest,
    *,
    start: bool = False,
) -> VmCreated:
    """Define (and start) a VM; nothing half-made stays behind when a step fails. A user
    who creates it becomes its vm-operator."""
    policy.require(by, Action.MANAGE, host_object(host.name))
    spec = spec_for(db, registry, by, host.name, req)
    check_boot(spec.kernel, spec.disk)
    pool = macpool.get_pool(db)
    with MAC_LOCK:
        scan = macpool.macs_in_use(registry)
        scan.macs |= journal.reserved_macs(store)
        view = host.call(lambda lv: _create(lv, store, host.name, spec, pool, scan.macs, start))
    grants.give_creator(db, tokens, by, vm_object(host.name, spec.name))
    return VmCreated(view, scan.unchecked_hosts)


def _create(
    lv: Libvirt,
    store: Store,
    host: str,
    spec: VmSpec,
    pool: macpool.Pool,
    in_use: set[str],
    start: bool,
) -> VmView:
    if lv.has_domain(spec.name):
        raise VmExists(f"a VM '{spec.name}' exists on this host")
    vnics = _vnics(lv, spec.vnics, pool, in_use)
    if any(v.source is None for v in vnics):
        ensure_blackhole(lv)
    key = f"new:{spec.name}"
    if not pool.allow_duplicates:
        journal.reserve_macs(store, host, key, {v.name: v.mac for v in vnics})
    try:
        dom = _define(lv, spec, vnics, start)
    except BaseException:
        journal.rekey(store, host, key, None)
        raise
    journal.rekey(store, host, key, dom.uuid)
    return _view(dom)


def _define(lv: Libvirt, spec: VmSpec, vnics: list[Vnic], start: bool) -> LibvirtDomain:
    with refused_as(lambda words: InvalidInput(f"libvirt refused the VM: {words}")):
        dom = lv.define_domain(domain_xml(spec, vnics))
        dom = ensure_hotplug_slots(lv, dom, spec.hotplug_slots)
    if start:
        try:
            _start(lv, dom)
        except PlugboardError:
            _undefine_half_made(dom)
            raise
    return dom


def _undefine_half_made(dom: LibvirtDomain) -> None:
    try:
        dom.undefine()
    except PlugboardError as err:
        log.error("VM %s did not start and could not be undefined: %s", dom.name, err.detail)


def _vnics(
    lv: Libvirt, specs: list[dict[str, Any]], pool: macpool.Pool, in_use: set[str]
) -> list[Vnic]:
    vnics: list[Vnic] = []
    taken = set(in_use)
    names: set[str] = set()
    for i, fields in enumerate(specs):
        later = {str(s["name"]) for s in specs[i:] if s.get("name")}
        name = fields.get("name") or next_name(names | later)
        if name in names:
            raise InvalidInput(f"two vNICs are named '{name}'", field=f"nics[{i}].name")
        mac = _mac(fields.get("mac"), vnics, pool, taken)
        taken.add(mac)
        names.add(name)
        vnics.append(resolve(lv, Vnic(**(fields | {"name": name, "mac": mac}))))
    return vnics


def _mac(asked: str | None, vnics: list[Vnic], pool: macpool.Pool, taken: set[str]) -> str:
    if not asked:
        return macpool.allocate(pool, taken)
    mac = macpool.check_mac(asked)
    if mac in {v.mac for v in vnics}:
        raise MacAddressInUse(f"two vNICs have MAC {mac}", mac=mac)
    macpool.check_free(mac, pool, taken)
    return mac


# --- lifecycle ---------------------------------------------------------------------------------
def _act(
    host: HostConnection,
    store: Store,
    name: str,
    action: Callable[[Libvirt, LibvirtDomain], None],
    failure: str,
    timeout: float = 30,
) -> VmView:
    def run(lv: Libvirt) -> VmView:
        dom = lv.domain(name)
        with holding(store, host.name, dom.uuid):
            with refused_as(lambda words: VmStateConflict(f"VM '{name}' {failure}: {words}")):
                action(lv, dom)
            return _view(dom)

    return host.call(run, timeout=timeout)


def _start(lv: Libvirt, dom: LibvirtDomain) -> None:
    """The definition holds the plugged vNICs with their link state; unplugged ones are only
    in the metadata, so they are not in the started VM. A network it needs must be active,
    and the files it boots from on the host."""
    root = dom.tree(inactive=True)
    for network in dict.fromkeys(root.xpath("./devices/interface/source/@network")):
        if network == BLACKHOLE:
            ensure_blackhole(lv)
        elif lv.has_network(str(network)):
            check_network_active(lv, str(network))
    with refused_as(_start_refused(dom.name, root)):
        dom.create()


def _start_refused(name: str, root: etree._Element) -> Callable[[str], PlugboardError]:
    """libvirt's refusal to start the VM: FILE_NOT_FOUND for a boot file the host lacks."""
    files = {
        "boot.kernel": root.findtext("os/kernel"),
        "boot.initrd": root.findtext("os/initrd"),
        "boot.disk": root.xpath("string(devices/disk/source/@file)"),
    }

    def make(words: str) -> PlugboardError:
        for where, path in files.items():
            if path and f"{path}" in words and "No such file" in words:
                return FileNotFound(
                    f"VM '{name}' could not start: the host has no file {path} ({where}); "
                    "copy it there, or give the VM another one",
                    field=where,
                )
        return VmStateConflict(f"VM '{name}' could not start: {words}")

    return make


def start_vm(host: HostConnection, store: Store, by: Principal, name: str) -> VmView:
    policy.require(by, Action.OPERATE, vm_object(host.name, name))

    def run(lv: Libvirt) -> VmView:
        dom = lv.domain(name)
        with holding(store, host.name, dom.uuid):
            _start(lv, dom)
            return _view(dom)

    return host.call(run, timeout=120)


def shutdown_vm(host: HostConnection, store: Store, by: Principal, name: str) -> VmView:
    policy.require(by, Action.OPERATE, vm_object(host.name, name))
    return _act(host, store, name, lambda _lv, dom: dom.shutdown(), "could not be shut down")


def destroy_vm(host: HostConnection, store: Store, by: Principal, name: str) -> VmView:
    policy.require(by, Action.OPERATE, vm_object(host.name, name))
    return _act(host, store, name, lambda _lv, dom: dom.destroy(), "could not be stopped")


def delete_vm(
    host: HostConnection,
    store: Store,
    by: Principal,
    tokens: TokenCache,
    name: str,
    *,
    force: bool = False,
) -> None:
    """Delete the VM (a host-admin's); the grants on it go with it."""
    policy.require(by, Action.SEE, vm_object(host.name, name))
    policy.require(by, Action.MANAGE, host_object(host.name))

    def delete(lv: Libvirt) -> None:
        dom = lv.domain(name)
        with holding(store, host.name, dom.uuid):
            if dom.is_active():
                if not force:
                    raise VmStateConflict(
                        f"VM '{name}' is running; stop it first (vm-destroy) or delete with force"
                    )
                dom.destroy()
            if dom.is_persistent():
                dom.undefine()
            journal.forget_vm(store, host.name, dom.uuid)

    host.call(delete)
    with store.session() as db:
        grants.forget_object(db, tokens, vm_object(host.name, name))
