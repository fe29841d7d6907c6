"""VMs (libvirt domains) on a host: every domain is listed, also those made with virsh or
virt-manager; plugboard creates simple ones (kernel + initrd, or a disk image) with vNICs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libvirt
from lxml import etree

from plugboard.engine import macpool
from plugboard.engine.vnics import (
    MAC_LOCK,
    NicState,
    ensure_blackhole,
    lookup_vm,
    next_name,
    read_vm,
    resolve,
    vm_lock,
)
from plugboard.errors import InvalidInput, MacAddressInUse, VmExists, VmStateConflict
from plugboard.hosts import HostConnection, HostRegistry
from plugboard.vnic import Vnic
from plugboard.vnic.xml import BLACKHOLE, interface_for, meta_for, set_meta

STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "unknown",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting-down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut-off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}
SPARE_ROOT_PORTS = 4  # empty PCIe root ports: q35 hot-plugs one card per port


@dataclass
class VmView:
    name: str
    uuid: str
    state: str
    persistent: bool
    autostart: bool
    memory_mib: int
    vcpus: int
    domain_type: str
    nics: list[NicState] = field(default_factory=list)


def _view(dom: libvirt.virDomain) -> VmView:
    state, max_mem_kib, _mem, vcpus, _cpu = dom.info()
    vm = read_vm(dom)
    return VmView(
        name=dom.name(),
        uuid=dom.UUIDString(),
        state=STATES.get(state, "unknown"),
        persistent=vm.persistent,
        autostart=bool(dom.autostart()) if vm.persistent else False,
        memory_mib=max_mem_kib // 1024,
        vcpus=vcpus,
        domain_type=vm.root.get("type"),
        nics=list(vm.nics.values()),
    )


def list_vms(host: HostConnection) -> list[VmView]:
    def read(conn):
        return sorted((_view(d) for d in conn.listAllDomains()), key=lambda v: v.name)

    return host.call(read)


def get_vm(host: HostConnection, name: str) -> VmView:
    return host.call(lambda conn: _view(lookup_vm(conn, name)))


# --- creating ----------------------------------------------------------------------------------
@dataclass
class VmSpec:
    name: str
    memory_mib: int
    vcpus: int
    domain_type: str  # kvm or qemu
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    disk: str | None = None
    nics: list[dict[str, Any]] = field(default_factory=list)  # Vnic fields, name/mac optional


def domain_xml(spec: VmSpec, vnics: list[Vnic]) -> str:
    dom = etree.Element("domain", type=spec.domain_type)
    etree.SubElement(dom, "name").text = spec.name
    set_meta(dom, {v.name: m for v in vnics if (m := meta_for(v, interface_for(v))) is not None})
    etree.SubElement(dom, "memory", unit="MiB").text = str(spec.memory_mib)
    etree.SubElement(dom, "vcpu").text = str(spec.vcpus)
    os_ = etree.SubElement(dom, "os")
    etree.SubElement(os_, "type", arch="x86_64", machine="q35").text = "hvm"
    if spec.kernel:
        etree.SubElement(os_, "kernel").text = spec.kernel
        if spec.initrd:
            etree.SubElement(os_, "initrd").text = spec.initrd
        if spec.cmdline:
            etree.SubElement(os_, "cmdline").text = spec.cmdline
    else:
        etree.SubElement(os_, "boot", dev="hd")
    etree.SubElement(etree.SubElement(dom, "features"), "acpi")  # PCI hot-plug needs ACPI
    devices = etree.SubElement(dom, "devices")
    if spec.disk:
        disk = etree.SubElement(devices, "disk", type="file", device="disk")
        fmt = "qcow2" if spec.disk.endswith(".qcow2") else "raw"
        etree.SubElement(disk, "driver", name="qemu", type=fmt)
        etree.SubElement(disk, "source", file=spec.disk)
        etree.SubElement(disk, "target", dev="vda", bus="virtio")
    for vnic in vnics:
        if vnic.plugged:
            devices.append(interface_for(vnic))
    etree.SubElement(devices, "controller", type="pci", index="0", model="pcie-root")
    for _ in range(len(vnics) + SPARE_ROOT_PORTS):
        etree.SubElement(devices, "controller", type="pci", model="pcie-root-port")
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    etree.SubElement(devices, "console", type="pty")
    return etree.tostring(dom, encoding="unicode")


def check_boot(kernel: str | None, disk: str | None) -> None:
    if not kernel and not disk:
        raise InvalidInput(
            "boot needs a kernel (with initrd, cmdline) or a disk image path", field="boot"
        )


def create_vm(
    host: HostConnection,
    registry: HostRegistry,
    pool: macpool.Pool,
    spec: VmSpec,
    *,
    start: bool = False,
) -> VmView:
    check_boot(spec.kernel, spec.disk)

    def create(conn):
        try:
            conn.lookupByName(spec.name)
        except libvirt.libvirtError:
            pass
        else:
            raise VmExists(f"a VM '{spec.name}' exists on this host")
        vnics = _vnics(conn, spec.nics, pool, in_use)
        if any(v.source is None for v in vnics):
            ensure_blackhole(conn)
        try:
            dom = conn.defineXML(domain_xml(spec, vnics))
        except libvirt.libvirtError as err:
            raise InvalidInput(f"libvirt refused the VM: {err.get_error_message()}") from None
        if start:
            try:
                dom.create()
            except libvirt.libvirtError as err:
                dom.undefine()  # nothing half-made stays behind
                raise VmStateConflict(
                    f"VM '{spec.name}' could not start: {err.get_error_message()}"
                ) from None
        return _view(dom)

    with MAC_LOCK:
        in_use = macpool.macs_in_use(registry)
        return host.call(create)


def _vnics(conn, specs: list[dict[str, Any]], pool: macpool.Pool, in_use: set[str]) -> list[Vnic]:
    vnics: list[Vnic] = []
    taken = set(in_use)
    names = set()
    for i, fields in enumerate(specs):
        name = fields.get("name") or next_name(names | {s.get("name") for s in specs[i:]})
        if name in names:
            raise InvalidInput(f"two vNICs are named '{name}'", field=f"nics[{i}].name")
        mac = fields.get("mac")
        if mac:
            mac = macpool.check_mac(mac)
            if mac in {v.mac for v in vnics}:
                raise MacAddressInUse(f"two vNICs have MAC {mac}", mac=mac)
            macpool.check_free(mac, pool, taken)
        else:
            mac = macpool.allocate(pool, taken)
        taken.add(mac)
        names.add(name)
        vnics.append(resolve(conn, Vnic(**(fields | {"name": name, "mac": mac}))))
    return vnics


# --- lifecycle ---------------------------------------------------------------------------------
def _act(host: HostConnection, name: str, action, failure: str, timeout: float = 30) -> VmView:
    def run(conn):
        dom = lookup_vm(conn, name)
        with vm_lock(host.name, dom.UUIDString()):
            try:
                action(dom)
            except libvirt.libvirtError as err:
                raise VmStateConflict(f"VM '{name}' {failure}: {err.get_error_message()}") from None
            return _view(dom)

    return host.call(run, timeout=timeout)


def start_vm(host: HostConnection, name: str) -> VmView:
    """Start: the definition holds the plugged vNICs with their link state; unplugged ones
    are only in the metadata, so they are not in the started VM."""

    def start(dom):
        root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
        if root.xpath("./devices/interface/source[@network=$n]", n=BLACKHOLE):
            ensure_blackhole(dom.connect())
        dom.create()

    return _act(host, name, start, "could not start", timeout=120)


def shutdown_vm(host: HostConnection, name: str) -> VmView:
    return _act(host, name, lambda dom: dom.shutdown(), "could not be shut down")


def destroy_vm(host: HostConnection, name: str) -> VmView:
    return _act(host, name, lambda dom: dom.destroy(), "could not be stopped")


def delete_vm(host: HostConnection, name: str, *, force: bool = False) -> None:
    def delete(conn):
        dom = lookup_vm(conn, name)
        with vm_lock(host.name, dom.UUIDString()):
            if dom.isActive():
                if not force:
                    raise VmStateConflict(
                        f"VM '{name}' is running; stop it first (vm-destroy) or delete with force"
                    )
                dom.destroy()
            if dom.isPersistent():
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)

    host.call(delete)
