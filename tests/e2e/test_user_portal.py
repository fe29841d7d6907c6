"""The user portal in Chromium: a user signed in with a password sees their VM and not
another's, is offered only the networks granted to them, re-wires their vNIC to one (the guest
gets a lease there), and a forged post to a network they were not granted is refused with 403
while nothing changes in libvirt."""

import json
import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import VIEWPORT, origin, screenshot
from tests.e2e.guests import Booted, card_of, network_of, slot_of
from tests.harness import NetworkFactory
from tests.harness.guest import INITRD, KERNEL
from tests.harness.service import Service

PASSWORD = "a long portal password"


def sign_in_as(browser: Browser, served: Service, username: str) -> Page:
    page = browser.new_context(base_url=origin(served), viewport=VIEWPORT).new_page()
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hosts")).to_be_visible()
    return page


def pat_with_grants(served: Service, b: Booted) -> str:
    """The user pat, vm-operator of the booted VM and network-user of its two networks; a
    second VM that is not pat's. Returns that VM's name."""
    other_vm = f"{b.guest.name}-not-pats"
    boot = {"kernel": str(KERNEL), "initrd": str(INITRD), "cmdline": "console=ttyS0"}
    made = served.post("/hosts/th/vms", json={"name": other_vm, "boot": boot})
    assert made.status_code == 201, made.text
    assert served.post("/users", json={"username": "pat", "password": PASSWORD}).status_code == 201
    for role, obj in (
        ("vm-operator", f"hosts/th/vms/{b.guest.name}"),
        ("network-user", f"hosts/th/networks/{b.lab.name}"),
        ("network-user", f"hosts/th/networks/{b.other.name}"),
    ):
        given = served.post("/grants", json={"user": "pat", "role": role, "object": obj})
        assert given.status_code == 201, given.text
    return other_vm


def test_a_user_changes_only_what_they_were_granted(
    browser: Browser, served: Service, booted: Booted, networks: NetworkFactory
):
    b = booted
    forbidden = networks.create("nat", persistent=True)
    vm = b.guest.name
    other_vm = pat_with_grants(served, b)

    page = sign_in_as(browser, served, "pat")
    # no host actions; their VM and not another's; only their networks; no interfaces
    expect(page.get_by_role("button", name="Add host")).to_have_count(0)
    page.goto("/hosts/th/vms")
    expect(page.get_by_role("link", name=vm, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=other_vm)).to_have_count(0)
    expect(page.get_by_role("link", name="New VM")).to_have_count(0)
    expect(page.get_by_role("link", name="Interfaces")).to_have_count(0)
    page.goto("/hosts/th/networks")
    expect(page.get_by_role("link", name=b.other.name)).to_be_visible()
    expect(page.get_by_role("link", name=forbidden.name)).to_have_count(0)
    expect(page.get_by_role("link", name="New network")).to_have_count(0)
    assert page.goto(f"/hosts/th/vms/{other_vm}").status == 404
    expect(page.get_by_role("alert")).to_contain_text(f"no VM '{other_vm}' on this host")
    expect(page.locator(".user-name")).to_have_text("pat")  # still signed in, with the nav

    # the Network select offers the granted networks and "No network", nothing else
    card = card_of(page, b)
    card.get_by_text("Edit nic1").click()
    select = page.get_by_label("Network of nic1")
    offered = select.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert sorted(offered) == sorted(["none", f"network:{b.lab.name}", f"network:{b.other.name}"])
    screenshot(page, "user-portal")

    # a re-wire to a granted network reaches the guest
    select.select_option(f"network:{b.other.name}")
    page.get_by_role("button", name="Show the plan for nic1").click()
    plan = page.get_by_role("region", name="Plan for nic1")
    expect(plan).to_contain_text(f"stays in slot {b.slot}")
    page.get_by_role("button", name="Apply to nic1").click()
    expect(card.locator(".source")).to_contain_text(b.other.name)
    assert network_of(b.guest) == b.other.name and slot_of(b.guest) == b.slot
    b.guest.wait_for_address(b.mac, b.other.subnet, timeout=60)

    # a forged post to the network not granted: 403, and libvirt's card is as it was
    before = b.guest.interface_xml("ua-nic1")
    card = card_of(page, b)
    form = card.locator("form[action$='/nics/nic1/plan']").first
    csrf = form.locator("input[name=csrf]").input_value()
    etag = form.locator("input[name=etag]").input_value()
    forged = page.request.post(
        f"/hosts/th/vms/{vm}/nics/nic1/apply",
        form={
            "csrf": csrf,
            "etag": etag,
            "body": json.dumps({"source": {"type": "network", "network": forbidden.name}}),
        },
    )
    assert forged.status == 403
    assert "PERMISSION_DENIED" in forged.text()
    assert f"network-user on hosts/th/networks/{forbidden.name}" in forged.text()
    after = b.guest.interface_xml("ua-nic1")
    assert (network_of(b.guest), after.find("mac").get("address")) == (
        b.other.name,
        before.find("mac").get("address"),
    )
    # the API says the same to pat's token
    token = served.post("/tokens", json={"name": "pat-cli", "user": "pat"}).json()["token"]
    api = served.client.patch(
        f"/api/v1/hosts/th/vms/{vm}/nics/nic1",
        headers={"Authorization": f"Bearer {token}"},
        json={"source": {"type": "network", "network": forbidden.name}},
        params={"dry_run": True},
    )
    assert api.status_code == 403 and api.json()["code"] == "PERMISSION_DENIED"
    assert network_of(b.guest) == b.other.name


def test_an_admin_grants_and_revokes_from_the_page_and_the_user_sees_their_grants(
    browser: Browser, admin: Page, served: Service
):
    assert served.post("/users", json={"username": "quin", "password": PASSWORD}).status_code == 201
    page = admin
    page.goto("/access")
    expect(page.get_by_role("table", name="Users")).to_contain_text("quin")
    page.get_by_label("User", exact=True).select_option("quin")
    page.get_by_label("Role", exact=True).select_option("network-user")
    page.get_by_label("On", exact=True).fill("hosts/th/vms/web1")  # the wrong kind: refused
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("alert")).to_contain_text("network-user is held on a network")
    expect(page.get_by_label("On", exact=True)).to_have_value("hosts/th/vms/web1")  # kept
    page.get_by_label("On", exact=True).fill("hosts/th/networks/lab")
    page.get_by_role("button", name="Grant").click()
    grants = page.get_by_role("table", name="Grants")
    expect(grants).to_contain_text("hosts/th/networks/lab")
    screenshot(page, "access")
    assert served.get("/grants", params={"user": "quin"}).json()[0]["role"] == "network-user"

    mine = sign_in_as(browser, served, "quin")
    mine.goto("/access")
    expect(mine.get_by_role("heading", name=re.compile("Your grants"))).to_be_visible()
    expect(mine.get_by_role("table", name="Grants")).to_contain_text("hosts/th/networks/lab")
    expect(mine.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
    expect(mine.get_by_role("table", name="Users")).to_have_count(0)

    page.get_by_role(
        "button", name="Revoke network-user on hosts/th/networks/lab from quin"
    ).click()
    expect(grants).not_to_contain_text("hosts/th/networks/lab")
    assert served.get("/grants", params={"user": "quin"}).json() == []
