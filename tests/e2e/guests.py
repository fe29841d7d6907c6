"""What the VM pages' browser tests share: a booted guest on one of two networks, its card on
the VM page, and what libvirt's live XML says of the card (slot, link, network)."""

from dataclasses import dataclass

from playwright.sync_api import Locator, Page

from tests.harness import Guest, GuestFactory, NetworkFactory, TestNetwork

NIC = "ua-nic1"


def slot_of(guest: Guest, alias: str = NIC) -> str:
    """The card's PCI address in libvirt's live XML, as lspci -D writes it."""
    address = guest.interface_xml(alias).find("address")
    assert address is not None
    parts = (int(address.get(k, "0"), 16) for k in ("domain", "bus", "slot", "function"))
    domain, bus, slot, function = parts
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def link_of(guest: Guest, alias: str = NIC) -> str:
    link = guest.interface_xml(alias).find("link")
    return "up" if link is None else link.get("state", "up")


def network_of(guest: Guest, alias: str = NIC) -> str | None:
    source = guest.interface_xml(alias).find("source")
    return None if source is None else source.get("network")


@dataclass
class Booted:
    lab: TestNetwork
    other: TestNetwork
    guest: Guest
    mac: str
    ip: str
    slot: str


def boot(networks: NetworkFactory, guests: GuestFactory) -> Booted:
    """A persistent guest on one of two networks, with its address."""
    lab = networks.create("nat", persistent=True)
    other = networks.create("nat", persistent=True)
    guest = guests.boot(lab.name, persistent=True)
    mac = guest.macs()[0]
    address = guest.wait_for_address(mac, lab.subnet)
    return Booted(lab, other, guest, mac, str(address.ip), slot_of(guest))


def card_of(page: Page, b: Booted) -> Locator:
    page.goto(f"/hosts/th/vms/{b.guest.name}")
    return page.get_by_role("article", name="vNIC nic1")
