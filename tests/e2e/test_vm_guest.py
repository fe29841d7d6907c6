"""The VM pages in Chromium, checked inside the guest: a VM created and started from the form,
a vNIC added and removed, link down and up (the guest's carrier), unplug and plug back into the
same slot, a MAC change as unplug + plug, a re-wire the guest gets a lease from, changes made
with virsh shown on the open page within 2 s, and a re-wire to a stopped network refused with
the card left as it was."""

import contextlib
import itertools
import re
import subprocess
import time

import libvirt
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot
from tests.e2e.guests import Booted, card_of, link_of, network_of, slot_of
from tests.harness import Guest, NetworkFactory, TestHost
from tests.harness.guest import INITRD, KERNEL
from tests.harness.service import Service

_serial = itertools.count(1)


def virsh(host: TestHost, *args: str) -> None:
    """A change behind plugboard's back, with virsh itself."""
    subprocess.run(["virsh", "-q", "-c", host.uri, *args], check=True, capture_output=True)


def apply_plan(page: Page, nic: str, *shows: str) -> None:
    """The plan shown for `nic` says each of `shows`; then Apply."""
    plan = page.get_by_role("region", name=f"Plan for {nic}")
    for text in shows:
        expect(plan).to_contain_text(text)
    page.get_by_role("button", name=f"Apply to {nic}").click()
    expect(plan).to_have_count(0)


# Counts the live re-fetches (set off by the VM's events) swapped into the page.
COUNT_LIVE_SWAPS = """() => {
  window.liveSwaps = 0;
  document.body.addEventListener("htmx:afterSwap", (evt) => {
    const cause = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    if (cause && cause.type === "live-changed") window.liveSwaps += 1;
  });
}"""


def guest_slot(guest: Guest, mac: str) -> str | None:
    nic = guest.nic_by_mac(mac)
    return nic.pci_address if nic else None


def test_create_a_vm_from_the_form_and_start_it(
    admin: Page, served: Service, testhost: TestHost, networks: NetworkFactory
):
    page = admin
    lab = networks.create("nat", persistent=True)
    name = f"pbtest-web{next(_serial)}"
    before = sorted(d.name() for d in testhost.conn.listAllDomains())
    page.goto("/hosts/th/vms")
    page.get_by_role("link", name="New VM").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Memory").fill("160")
    page.get_by_label("Network of the first vNIC").select_option(f"network:{lab.name}")
    try:
        # Neither a template nor a boot: refused in the API's words, and nothing is defined.
        page.get_by_role("button", name="Create VM").click()
        expect(page.get_by_role("alert")).to_contain_text("boot")
        expect(page.get_by_label("Name")).to_have_value(name)  # what was typed is kept
        assert sorted(d.name() for d in testhost.conn.listAllDomains()) == before

        page.get_by_label("Kernel", exact=True).fill(str(KERNEL))
        page.get_by_label("initrd").fill(str(INITRD))
        page.get_by_label("Kernel command line").fill("console=ttyS0 panic=-1")
        expect(page.get_by_label("Start it")).to_be_checked()
        screenshot(page, "vm-new")
        page.get_by_role("button", name="Create VM").click()

        expect(page.get_by_role("heading", name=f"VMs / {name}")).to_be_visible()
        expect(page.locator(".vm-facts")).to_contain_text("running")
        card = page.get_by_role("article", name="vNIC nic1")
        expect(card.locator(".source")).to_contain_text(lab.name)
        dom = testhost.conn.lookupByName(name)
        assert dom.isActive() and dom.isPersistent()
        mac = card.locator(".mac").inner_text()
        # It booted: the guest asked the network's dnsmasq for a lease.
        Guest(testhost, dom).wait_for(f"{name}'s lease", lambda: lab.lease_for(mac), timeout=90)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom = testhost.conn.lookupByName(name)
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
            dom.undefine()


def test_link_down_and_up_then_a_rewire_the_guest_gets_a_lease_from(admin: Page, booted: Booted):
    page, b = admin, booted
    card = card_of(page, b)
    guest, mac = b.guest, b.mac
    slot_inside = guest_slot(guest, mac)
    assert guest.nic_by_mac(mac).carrier == 1

    card.get_by_role("button", name="Link down nic1").click()
    apply_plan(page, "nic1", "live-update")
    expect(card.locator(".badge", has_text="link down")).to_be_visible()
    guest.wait_for("carrier 0", lambda: guest.nic_by_mac(mac).carrier == 0)
    card.get_by_role("button", name="Link up nic1").click()
    apply_plan(page, "nic1", "live-update")
    expect(card.locator(".badge", has_text="link up")).to_be_visible()
    guest.wait_for("carrier 1", lambda: guest.nic_by_mac(mac).carrier == 1)

    card.get_by_text("Edit nic1").click()
    page.get_by_label("Network of nic1").select_option(f"network:{b.other.name}")
    page.get_by_role("button", name="Show the plan for nic1").click()
    apply_plan(page, "nic1", "live-update", f"stays in slot {b.slot}")
    expect(card.locator(".source")).to_contain_text(b.other.name)
    assert network_of(guest) == b.other.name and slot_of(guest) == b.slot
    address = guest.wait_for_address(mac, b.other.subnet, timeout=60)
    assert guest_slot(guest, mac) == slot_inside  # the same card, in the same slot
    expect(card.locator(".ips")).to_contain_text(str(address.ip), timeout=30_000)


def test_unplug_then_plug_back_into_its_slot(admin: Page, booted: Booted):
    page, b = admin, booted
    card = card_of(page, b)
    guest, mac = b.guest, b.mac
    slot_inside = guest_slot(guest, mac)

    card.get_by_role("button", name="Unplug nic1").click()
    apply_plan(page, "nic1", "unplug", "The guest will see the card go")
    expect(card).to_have_class("card vnic unplugged")  # greyed, with its kept slot
    expect(card.locator(".pci")).to_have_text(b.slot)
    expect(card).to_contain_text("kept")
    guest.wait_for("the card gone", lambda: guest.nic_by_mac(mac) is None)
    assert b.mac not in guest.macs()

    card.get_by_role("button", name="Plug nic1").click()
    apply_plan(page, "nic1", "plug", b.slot)
    expect(card).to_have_class("card vnic")
    assert slot_of(guest) == b.slot
    back = guest.wait_for("the card back", lambda: guest_slot(guest, mac))
    assert back == slot_inside
    guest.wait_for_address(mac, b.lab.subnet, timeout=60)


def test_a_mac_change_is_unplug_and_plug_in_the_same_slot(admin: Page, booted: Booted):
    page, b = admin, booted
    card = card_of(page, b)
    guest = b.guest
    slot_inside = guest_slot(guest, b.mac)
    new_mac = "52:54:00:e2:e0:01"

    card.get_by_text("Edit nic1").click()
    page.get_by_label("MAC of nic1").fill(new_mac)
    page.get_by_role("button", name="Show the plan for nic1").click()
    plan = page.get_by_role("region", name="Plan for nic1")
    expect(plan.locator(".changes")).to_contain_text(re.compile(f"MAC {b.mac} .*{new_mac}"))
    apply_plan(page, "nic1", "unplug", "plug", "see the card go and come back", b.slot)
    expect(card.locator(".mac")).to_have_text(new_mac)
    assert guest.macs() == [new_mac] and slot_of(guest) == b.slot
    seen = guest.wait_for("the new MAC", lambda: guest_slot(guest, new_mac))
    assert seen == slot_inside
    assert guest.nic_by_mac(b.mac) is None


def test_add_a_vnic_then_remove_it_once_unplugged(admin: Page, served: Service, booted: Booted):
    page, b = admin, booted
    card_of(page, b)
    guest = b.guest
    page.get_by_text("Add a vNIC").click()
    page.get_by_label("Network of the new vNIC").select_option(f"network:{b.other.name}")
    page.get_by_label("MAC of the new vNIC").fill("01:00:5e:00:00:01")  # multicast: refused
    page.get_by_role("button", name="Add the vNIC").click()
    expect(page.locator("#problem-new")).to_contain_text("MAC_ADDRESS_INVALID")
    assert guest.macs() == [b.mac]  # nothing added
    page.get_by_label("MAC of the new vNIC").fill("")
    page.evaluate(COUNT_LIVE_SWAPS)
    page.get_by_role("button", name="Add the vNIC").click()

    card2 = page.get_by_role("article", name="vNIC nic2")
    expect(card2.locator(".badge", has_text="plugged")).to_be_visible()
    # The page's word of it outlives the re-fetch the change itself sets off.
    page.wait_for_function("window.liveSwaps > 0")
    expect(card2.get_by_role("status")).to_contain_text("Added nic2 and plugged into the running")
    mac2 = card2.locator(".mac").inner_text()
    assert guest.macs() == [b.mac, mac2]
    guest.wait_for_address(mac2, b.other.subnet, timeout=60)

    # Plugged into the running VM: Remove is disabled, and the card says why.
    remove = card2.get_by_role("button", name="Remove nic2")
    expect(remove).to_be_disabled()
    expect(card2).to_contain_text("Unplug nic2 first")
    card2.get_by_role("button", name="Unplug nic2").click()
    apply_plan(page, "nic2", "unplug")
    guest.wait_for("nic2 gone", lambda: guest.nic_by_mac(mac2) is None)
    expect(remove).to_be_enabled()
    remove.click()
    confirm = page.get_by_role("region", name="Remove nic2?")
    expect(confirm).to_contain_text(mac2)
    assert served.get(f"/hosts/th/vms/{guest.name}/nics/nic2").status_code == 200
    page.get_by_role("button", name="Remove nic2 now").click()
    expect(card2).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Removed nic2")).to_be_visible()
    assert served.get(f"/hosts/th/vms/{guest.name}/nics/nic2").status_code == 404
    assert guest.macs() == [b.mac]


def test_changes_made_with_virsh_show_on_the_open_page_within_2s(
    admin: Page, testhost: TestHost, booted: Booted
):
    page, b = admin, booted
    card = card_of(page, b)
    expect(card.locator(".badge", has_text="link up")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    # domif-setlink raises no libvirt event: the page's stream looks at its VM each second.
    virsh(testhost, "domif-setlink", b.guest.name, b.mac, "down")
    expect(card.locator(".badge", has_text="link down")).to_be_visible(timeout=2_000)
    expect(card).to_contain_text("Changed outside plugboard")

    # detach-interface: from libvirt's device-removed event (once the guest let the card go).
    virsh(testhost, "detach-interface", b.guest.name, "network", "--mac", b.mac, "--live")
    deadline = time.monotonic() + 60
    while b.mac in b.guest.macs():
        assert time.monotonic() < deadline, "the guest never released the card"
        time.sleep(0.05)
    expect(card.locator(".badge", has_text="unplugged")).to_be_visible(timeout=2_000)
    assert page.evaluate("window.notReloaded") is True


def test_a_rewire_to_a_stopped_network_is_refused_and_the_card_stays(
    admin: Page, testhost: TestHost, booted: Booted
):
    page, b = admin, booted
    card = card_of(page, b)
    before = b.guest.dom.XMLDesc()
    card.get_by_text("Edit nic1").click()
    page.get_by_label("Network of nic1").select_option(f"network:{b.other.name}")
    page.get_by_role("button", name="Show the plan for nic1").click()
    expect(page.get_by_role("region", name="Plan for nic1")).to_contain_text("live-update")

    # The network stops between the plan and Apply: the change is refused before libvirt is
    # asked, in words that say what to do, and the card is as it was.
    virsh(testhost, "net-destroy", b.other.name)
    page.get_by_role("button", name="Apply to nic1").click()
    problem = card.get_by_role("alert")
    expect(problem).to_contain_text("NETWORK_INACTIVE")
    expect(problem).to_contain_text(b.other.name)
    expect(card.locator(".source")).to_contain_text(b.lab.name)
    assert network_of(b.guest) == b.lab.name and link_of(b.guest) == "up"
    assert b.guest.dom.XMLDesc() == before
