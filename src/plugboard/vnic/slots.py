"""PCI slots for hot-plugged cards. On q35 a hot-plugged card needs a PCIe root port of its
own, and a running VM cannot get more ports: what it has at start is all there is. Pure: read
from a domain's XML, no libvirt here.

An unplugged vNIC keeps the address it had, so it goes back into the same slot; a new card is
put into a free port no unplugged vNIC keeps, while there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from plugboard.vnic.metadata import read_records
from plugboard.vnic.xml import interface_of, pci_address, vnic_name


@dataclass(frozen=True)
class Slots:
    """The hot-plug ports of a VM (by bus number), what is in each, and which unplugged vNIC
    keeps which."""

    ports: tuple[int, ...]
    used: Mapping[int, str]  # bus -> the device in it ("nic1", "memballoon", ...)
    kept: Mapping[int, str]  # bus -> the unplugged vNIC that keeps it

    @property
    def free(self) -> tuple[int, ...]:
        return tuple(bus for bus in self.ports if bus not in self.used)

    @property
    def free_for_new(self) -> tuple[int, ...]:
        """Free ports no unplugged vNIC keeps."""
        return tuple(bus for bus in self.free if bus not in self.kept)

    def for_new(self) -> int | None:
        """The port a new card goes into: one nobody keeps, else a kept one, else None."""
        return next(iter(self.free_for_new or self.free), None)

    def describe(self) -> str:
        """ "3 hot-plug slots, in use by nic1, nic2, memballoon"."""
        users = ", ".join(self.used[bus] for bus in self.ports if bus in self.used)
        return f"{len(self.ports)} hot-plug slots" + (f", in use by {users}" if users else "")


def slot_address(bus: int) -> str:
    """The address of the card in port `bus`, as the guest's `lspci -D` shows it."""
    return f"0000:{bus:02x}:00.0"


def bus_of(pci_address: str | None) -> int | None:
    """The bus of a `lspci -D` address ("0000:05:00.0" -> 5)."""
    if not pci_address:
        return None
    return int(pci_address.split(":")[1], 16)


# PCI controllers that give hot-plug slots of their own (bridges, switches, expanders): a VM
# with any of them is left to libvirt's choice of slot.
OTHER_HOTPLUG = {
    "pci-bridge",
    "pcie-to-pci-bridge",
    "dmi-to-pci-bridge",
    "pcie-switch-upstream-port",
    "pcie-switch-downstream-port",
    "pci-expander-bus",
    "pcie-expander-bus",
}


def modelled(root: etree._Element) -> bool:
    """Whether plugboard knows the VM's hot-plug slots: a q35 (PCIe) machine whose cards
    hot-plug into root ports only. An i440fx machine (pci-root, whose own slots take
    hot-plugged cards) or one with bridges or switches is left to libvirt."""
    models = {c.get("model") for c in root.iterfind("devices/controller[@type='pci']")}
    return "pcie-root" in models and not models & OTHER_HOTPLUG


def slots_of(root: etree._Element, kept: Mapping[str, str | None] | None = None) -> Slots:
    """The slots of the domain `root` (its live XML for a running VM; see `modelled`);
    `kept`: each unplugged vNIC's name -> its kept PCI address."""
    ports = tuple(
        int(controller.get("index", "0"))
        for controller in root.iterfind("devices/controller[@type='pci']")
        if controller.get("model") == "pcie-root-port"
        and controller.find("target[@hotplug='off']") is None
    )
    used = {}
    for device in root.iterfind("devices/*"):
        address = device.find("address[@type='pci']")
        if address is not None and (bus := int(address.get("bus", "0"), 16)) in ports:
            used[bus] = _name(device)
    keeps = {}
    for name, addr in (kept or {}).items():
        if (kept_bus := bus_of(addr)) is not None:
            keeps[kept_bus] = name
    return Slots(ports, used, keeps)


def _name(device: etree._Element) -> str:
    if device.tag == "interface":
        return vnic_name(interface_of(device))
    target = device.find("target")
    if device.tag == "disk" and target is not None:
        return f"disk {target.get('dev')}"
    tag = str(device.tag)
    kind = device.get("type") or device.get("model")
    return f"{tag} ({kind})" if kind and tag == "controller" else tag


def domain_slots(root: etree._Element) -> Slots | None:
    """The slots of the domain `root`, with those its unplugged vNICs keep (from plugboard's
    records in its metadata); None when plugboard does not know them (see `modelled`)."""
    if not modelled(root):
        return None
    kept = {n: r.interface for n, r in read_records(root).items() if not r.plugged}
    return slots_of(root, {n: pci_address(i) for n, i in kept.items() if i is not None})
