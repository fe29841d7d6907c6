"""Every open page follows changes made behind plugboard's back, without a reload: a host's
networks table and VMs table (libvirt's events) and a network's page (its events, and a look
each second for what raises none: `virsh net-update`, a guest's new lease)."""

import subprocess

from playwright.sync_api import Page, expect

from tests.e2e.guests import Booted
from tests.harness import GuestFactory, NetworkFactory, TestHost

SOON = 2_000  # ms: the bound for a change made with virsh


def virsh(host: TestHost, *args: str) -> None:
    subprocess.run(["virsh", "-q", "-c", host.uri, *args], check=True, capture_output=True)


def test_the_networks_table_follows_virsh(
    admin: Page, testhost: TestHost, networks: NetworkFactory
):
    page = admin
    net = networks.create("nat", persistent=True)
    page.goto("/hosts/th/networks")
    row = page.locator(f"tr[data-network={net.name}]")
    expect(row.locator(".badge", has_text="active")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    virsh(testhost, "net-destroy", net.name)
    expect(row.locator(".badge", has_text="inactive")).to_be_visible(timeout=SOON)
    virsh(testhost, "net-start", net.name)
    expect(row.locator(".badge", has_text="inactive")).to_have_count(0, timeout=SOON)
    assert page.evaluate("window.notReloaded") is True


def test_a_network_page_follows_net_update_and_a_new_lease(
    admin: Page, testhost: TestHost, networks: NetworkFactory, guests: GuestFactory
):
    page = admin
    net = networks.create("nat", persistent=True)
    page.goto(f"/hosts/th/networks/{net.name}")
    reservations = page.get_by_role("table", name="DHCP reservations")
    expect(reservations).to_be_visible()
    expect(reservations).not_to_contain_text("by-virsh")
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Name").first.fill("typed, not lost")  # the user is typing meanwhile

    ip = net.subnet.network_address + 77
    xml = f"<host mac='52:54:00:00:77:77' name='by-virsh' ip='{ip}'/>"
    virsh(testhost, "net-update", net.name, "add", "ip-dhcp-host", xml, "--live", "--config")
    expect(reservations).to_contain_text("by-virsh", timeout=SOON)
    expect(page.locator("#network-xml")).to_contain_text("by-virsh")

    guest = guests.boot(net.name, wait=False)
    mac = guest.macs()[0]
    leases = page.get_by_role("table", name="DHCP leases")
    expect(leases).to_contain_text(mac, timeout=90_000)  # the guest boots, then asks
    expect(leases).to_contain_text(guest.name)
    expect(page.get_by_label("Name").first).to_have_value("typed, not lost")
    assert page.evaluate("window.notReloaded") is True


def test_the_vms_table_follows_a_vm_stopped_with_virsh(
    admin: Page, testhost: TestHost, booted: Booted
):
    page, b = admin, booted
    page.goto("/hosts/th/vms")
    row = page.locator(f"tr[data-vm={b.guest.name}]")
    expect(row).to_contain_text("running")
    page.evaluate("window.notReloaded = true")
    virsh(testhost, "destroy", b.guest.name)
    expect(row).to_contain_text("shut-off", timeout=SOON)
    expect(row.get_by_role("button", name=f"Start {b.guest.name}")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
