"""The web UI's VM pages in Chromium: a host's VMs, a VM's vNIC cards, changes shown as their
plan first and applied with If-Match, and the page following changes made elsewhere, against a
served plugboard and a real test host with a booted guest."""

import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_local, origin, screenshot, sign_in
from tests.e2e.guests import Booted, card_of, link_of, network_of, slot_of
from tests.harness import GuestFactory, NetworkFactory
from tests.harness.service import Service


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


def test_the_vm_page_reads_at_400px_and_works_from_the_keyboard(
    browser: Browser, served: Service, booted: Booted
):
    b = booted
    context = browser.new_context(base_url=origin(served), viewport={"width": 400, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, served.token)
        card = card_of(page, b)
        expect(card.locator(".mac")).to_have_text(b.mac)
        # Nothing runs off the side: the page is as wide as the screen, the sections a bar.
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        box = card.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400
        sections = page.get_by_role("navigation", name="Sections")
        expect(sections.get_by_role("link", name="VMs")).to_be_visible()
        screenshot(page, "vm-400px")

        # From the keyboard alone: focus the toggle, Enter shows the plan, Enter applies.
        card.get_by_role("button", name="Link down nic1").focus()
        page.keyboard.press("Enter")
        apply = page.get_by_role("button", name="Apply to nic1")
        expect(apply).to_be_visible()
        apply.focus()
        page.keyboard.press("Enter")
        expect(card.locator(".badge", has_text="link down")).to_be_visible()
        assert link_of(b.guest) == "down"
    finally:
        context.close()
