"""The web UI's VM pages in Chromium: a host's VMs, a VM's vNIC cards, changes shown as their
plan first and applied with If-Match, and the page following changes made elsewhere, against a
served plugboard and a real test host with a booted guest."""

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import assert_local, screenshot, sign_in
from tests.harness import Guest, GuestFactory, NetworkFactory, TestNetwork
from tests.harness.service import Service

NIC = "ua-nic1"


def slot_of(guest: Guest) -> str:
    """The card's PCI address in libvirt's live XML, as lspci -D writes it."""
    address = guest.interface_xml(NIC).find("address")
    assert address is not None
    parts = (int(address.get(k, "0"), 16) for k in ("domain", "bus", "slot", "function"))
    domain, bus, slot, function = parts
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def link_of(guest: Guest) -> str:
    link = guest.interface_xml(NIC).find("link")
    return "up" if link is None else link.get("state", "up")


def network_of(guest: Guest) -> str | None:
    source = guest.interface_xml(NIC).find("source")
    return None if source is None else source.get("network")


@dataclass
class Booted:
    lab: TestNetwork
    other: TestNetwork
    guest: Guest
    mac: str
    ip: str
    slot: str


@pytest.fixture
def booted(networks: NetworkFactory, guests: GuestFactory) -> Booted:
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


def test_the_vms_table_and_a_vm_page_with_its_card(admin: Page, served: Service, booted: Booted):
    page, b = admin, booted
    page.goto("/hosts/th/vms")
    row = page.locator(f"tr[data-vm={b.guest.name}]")
    expect(row).to_contain_text("running")
    expect(row).to_contain_text(b.ip)
    expect(row.locator("td.num").nth(0)).to_have_text("1")  # vNICs
    expect(row.locator("td.num").nth(1)).to_have_text("1")  # active
    expect(row.get_by_role("button", name=f"Power off {b.guest.name}")).to_be_visible()
    assert_local(page, served)
    screenshot(page, "vms")

    row.get_by_role("link", name=b.guest.name, exact=True).click()
    card = page.get_by_role("article", name="vNIC nic1")
    expect(card.locator(".mac")).to_have_text(b.mac)
    expect(card.locator(".pci")).to_have_text(b.slot)
    expect(card.locator(".source")).to_contain_text(b.lab.name)
    expect(card.locator(".ips")).to_contain_text(b.ip)
    expect(card.get_by_role("button", name="Link down nic1")).to_be_visible()
    assert_local(page, served)
    screenshot(page, "vm")


def test_link_down_then_rewire_each_shown_as_its_plan_first(admin: Page, booted: Booted):
    page, b = admin, booted
    card = card_of(page, b)

    # Link down from the toggle: the plan first, then Apply; libvirt's live XML follows.
    card.get_by_role("button", name="Link down nic1").click()
    plan = page.get_by_role("region", name="Plan for nic1")
    expect(plan).to_contain_text("live-update")
    expect(plan).to_contain_text(f"stays in slot {b.slot}")
    assert link_of(b.guest) == "up"  # nothing changes before Apply
    page.get_by_role("button", name="Apply to nic1").click()
    expect(card.locator(".badge", has_text="link down")).to_be_visible()
    assert link_of(b.guest) == "down"

    # Re-wire to the other network from the select: a live update, in the same slot.
    card.get_by_text("Edit nic1").click()
    page.get_by_label("Network of nic1").select_option(f"network:{b.other.name}")
    page.get_by_role("button", name="Show the plan for nic1").click()
    expect(plan).to_contain_text("live-update")
    expect(plan.locator(".changes")).to_contain_text(f"network {b.lab.name}")
    expect(plan.locator(".changes")).to_contain_text(f"network {b.other.name}")
    expect(plan).to_contain_text(f"stays in slot {b.slot}")
    screenshot(page, "vm-plan")
    assert network_of(b.guest) == b.lab.name
    page.get_by_role("button", name="Apply to nic1").click()
    expect(card.locator(".source")).to_contain_text(b.other.name)
    assert network_of(b.guest) == b.other.name
    assert slot_of(b.guest) == b.slot
    expect(card.locator(".pci")).to_have_text(b.slot)

    # Bad input: the API's words on the card, and nothing changes.
    card.get_by_text("Edit nic1").click()
    page.get_by_label("MAC of nic1").fill("01:00:5e:00:00:01")
    page.get_by_role("button", name="Show the plan for nic1").click()
    expect(card.get_by_role("alert")).to_contain_text("MAC_ADDRESS_INVALID")
    assert b.guest.macs() == [b.mac]


def test_a_card_changed_meanwhile_gets_the_412_and_nothing_changes(
    admin: Page, served: Service, booted: Booted
):
    page, b = admin, booted
    card = card_of(page, b)
    card.get_by_role("button", name="Unplug nic1").click()
    expect(page.get_by_role("region", name="Plan for nic1")).to_contain_text("unplug")
    changed = served.patch(f"/hosts/th/vms/{b.guest.name}/nics/nic1", json={"linked": False})
    assert changed.status_code == 200, changed.text
    page.get_by_role("button", name="Apply to nic1").click()
    expect(card.get_by_role("alert")).to_contain_text("PRECONDITION_FAILED")
    expect(card).to_contain_text("changed since the page showed it")
    assert link_of(b.guest) == "down"  # the API's change
    assert slot_of(b.guest) == b.slot  # still plugged: the page's change did not happen
    card.get_by_role("link", name="Reload nic1").click()
    expect(card.locator(".badge", has_text="link down")).to_be_visible()
    expect(card.get_by_role("alert")).to_have_count(0)


def test_the_open_page_follows_changes_made_elsewhere(admin: Page, served: Service, booted: Booted):
    page, b = admin, booted
    card = card_of(page, b)
    expect(card.locator(".badge", has_text="link up")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    changed = served.patch(f"/hosts/th/vms/{b.guest.name}/nics/nic1", json={"linked": False})
    assert changed.status_code == 200, changed.text
    expect(card.locator(".badge", has_text="link down")).to_be_visible(timeout=5_000)
    b.guest.dom.destroy()  # the VM stopped behind plugboard's back (virsh destroy)
    expect(page.locator(".vm-facts")).to_contain_text("shut-off", timeout=5_000)
    expect(card.locator(".badge", has_text="inactive")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True


def test_a_user_token_reads_the_cards_but_gets_no_controls(
    anonymous: Page, served: Service, booted: Booted
):
    page, b = anonymous, booted
    secret = served.post("/tokens", json={"name": "viewer", "role": "user"}).json()["token"]
    sign_in(page, secret)
    card = card_of(page, b)
    expect(card.locator(".mac")).to_have_text(b.mac)
    expect(page.get_by_role("button", name=re.compile("nic1"))).to_have_count(0)
    expect(page.get_by_text("Edit nic1")).to_have_count(0)
    page.goto("/hosts/th/vms")
    expect(page.get_by_role("table", name="VMs")).to_contain_text(b.guest.name)
    actions = re.compile("^(Start|Shut down|Power off|Delete) ")
    expect(page.get_by_role("button", name=actions)).to_have_count(0)
    expect(page.get_by_role("link", name=actions)).to_have_count(0)


def test_delete_is_refused_while_running_then_forced(
    admin: Page, served: Service, networks: NetworkFactory, guests: GuestFactory
):
    lab = networks.create("nat", persistent=True)
    guest = guests.boot(lab.name, persistent=True, wait=False)
    page = admin
    page.goto("/hosts/th/vms")
    page.get_by_role("link", name=f"Delete {guest.name}").click()
    page.get_by_role("button", name=f"Delete {guest.name}").click()
    expect(page.get_by_role("alert")).to_contain_text("VM_STATE_CONFLICT")
    expect(page.get_by_role("alert")).to_contain_text("is running; stop it first")
    assert guest.dom.isActive()
    page.get_by_label("Power it off first if it runs").check()
    page.get_by_role("button", name=f"Delete {guest.name}").click()
    expect(page.get_by_role("table", name="VMs")).not_to_contain_text(guest.name)
    assert guest.name not in [d["name"] for d in served.get("/hosts/th/vms").json()]
