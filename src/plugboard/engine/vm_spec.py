"""What a new VM is made of, and its libvirt definition: q35 with ACPI (PCI hot-plug needs
it), spare PCIe root ports for hot-plugged cards, a serial console, and its vNICs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from plugboard.errors import InvalidInput
from plugboard.vnic import Vnic
from plugboard.vnic.metadata import put_records, record_for
from plugboard.vnic.xml import interface_for

HOTPLUG_SLOTS = 8  # free PCIe root ports a new VM gets for hot-plugged cards, by default
MAX_HOTPLUG_SLOTS = 64
# libvirt puts a USB controller and a memory balloon on root ports of its own (q35).
LIBVIRT_PORTS = 2


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
    vnics: list[dict[str, Any]] = field(default_factory=list)  # Vnic fields, name/mac optional
    hotplug_slots: int = HOTPLUG_SLOTS


def check_boot(kernel: str | None, disk: str | None) -> None:
    """A VM (or template) boots from a kernel or a disk image."""
    if not kernel and not disk:
        raise InvalidInput(
            "boot needs a kernel (with initrd, cmdline) or a disk image path", field="boot"
        )


def domain_xml(spec: VmSpec, vnics: list[Vnic]) -> str:
    dom = etree.Element("domain", type=spec.domain_type)
    etree.SubElement(dom, "name").text = spec.name
    cards = {v.name: interface_for(v) for v in vnics}
    put_records(dom, {v.name: r for v in vnics if (r := record_for(v, cards[v.name])) is not None})
    etree.SubElement(dom, "memory", unit="MiB").text = str(spec.memory_mib)
    etree.SubElement(dom, "vcpu").text = str(spec.vcpus)
    _os(etree.SubElement(dom, "os"), spec)
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
            devices.append(etree.fromstring(cards[vnic.name].format()))
    etree.SubElement(devices, "controller", type="pci", index="0", model="pcie-root")
    in_use = sum(v.plugged for v in vnics) + bool(spec.disk) + LIBVIRT_PORTS
    add_root_ports(devices, in_use + spec.hotplug_slots)
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    etree.SubElement(devices, "console", type="pty")
    return etree.tostring(dom, encoding="unicode")


def add_root_ports(devices: etree._Element, count: int) -> None:
    """`count` more PCIe root ports (libvirt numbers and places them)."""
    for _ in range(count):
        etree.SubElement(devices, "controller", type="pci", model="pcie-root-port")


def _os(os_: etree._Element, spec: VmSpec) -> None:
    etree.SubElement(os_, "type", arch="x86_64", machine="q35").text = "hvm"
    if not spec.kernel:
        etree.SubElement(os_, "boot", dev="hd")
        return
    etree.SubElement(os_, "kernel").text = spec.kernel
    if spec.initrd:
        etree.SubElement(os_, "initrd").text = spec.initrd
    if spec.cmdline:
        etree.SubElement(os_, "cmdline").text = spec.cmdline
