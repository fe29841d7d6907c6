"""The web UI's vNIC profiles in Chromium: a profile made from its form, a running VM's vNIC
wired through it from the VM page (plan, then apply), the profile changed on its page (the plan
lists the vNIC, Apply gives each vNIC's outcome), delete refused while in use, bad input shown
next to its field; and a card's port mirroring switched on and off. Against a served plugboard
and a real test host (the VM needs no OS: live updates and mirroring do not ask the guest)."""

import itertools
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_local, screenshot, sign_in
from tests.e2e.guests import network_of, slot_of
from tests.harness import Guest, GuestFactory, NetworkFactory, TestNetwork
from tests.harness.service import Service

_serial = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}{next(_serial)}"


def create_profile_from_the_form(page: Page, name: str, network: str) -> None:
    page.get_by_role("link", name="Profiles").click()
    expect(page.get_by_role("heading", name=re.compile("^vNIC profiles"))).to_be_visible()
    page.get_by_role("link", name="New profile").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill("lab VMs, one network")
    page.get_by_label("Source kind").select_option("network")
    page.get_by_label("Source name").fill(network)
    page.get_by_role("button", name="Create profile").click()


def some_more_profiles(served: Service) -> None:
    """Profiles of other kinds, for the list to show (never wired here)."""
    bodies = [
        {
            "name": uniq("trunk"),
            "description": "uplinks of the routers",
            "source": {"type": "ovs", "bridge": "ovsbr0"},
            "vlan": {"tags": [10, 20, 30], "trunk": True},
        },
        {
            "name": uniq("capped"),
            "source": {"type": "network", "network": "default", "portgroup": "bulk"},
            "bandwidth": {
                "inbound": {"average": 1000, "peak": 2000, "burst": 512},
                "outbound": {"average": 500},
            },
            "filter": {"name": "clean-traffic", "parameters": {"IP": "10.0.0.5"}},
        },
        {
            "name": uniq("monitor"),
            "source": {"type": "bridge", "bridge": "br-lab"},
            "port_mirroring": True,
        },
    ]
    for body in bodies:
        made = served.post("/profiles", json=body)
        assert made.status_code == 201, made.text


def wire_through(page: Page, guest: Guest, profile: str, before: str, after: str) -> None:
    """nic1 wired through `profile` from the card's Edit form: the plan first, then Apply."""
    page.goto(f"/hosts/th/vms/{guest.name}")
    card = page.get_by_role("article", name="vNIC nic1")
    card.get_by_text("Edit nic1").click()
    expect(page.get_by_label("Network of nic1")).to_be_visible()
    page.get_by_label("Profile of nic1").select_option(profile)
    expect(page.get_by_label("Network of nic1")).to_be_hidden()  # the profile's to say
    page.get_by_role("button", name="Show the plan for nic1").click()
    plan = page.get_by_role("region", name="Plan for nic1")
    expect(plan).to_contain_text("live-update")
    expect(plan.locator(".changes")).to_contain_text(re.compile(f"profile none.*{profile}"))
    expect(plan.locator(".changes")).to_contain_text(f"network {before}")
    expect(plan.locator(".changes")).to_contain_text(f"network {after}")
    assert network_of(guest) == before  # nothing before Apply
    page.get_by_role("button", name="Apply to nic1").click()
    expect(card.locator(".profile-of")).to_have_text(f"profile {profile}")
    expect(card.locator(".source")).to_contain_text(after)


def test_a_profile_made_wired_changed_live_and_kept_while_in_use(
    admin: Page, served: Service, networks: NetworkFactory, guests: GuestFactory
):
    lab = networks.create("nat", persistent=True)
    other = networks.create("nat", persistent=True)
    guest = guests.boot(lab.name, persistent=True, wait=False)
    slot = slot_of(guest)
    name = uniq("gold")
    page = admin

    create_profile_from_the_form(page, name, other.name)
    row = page.locator(f"tr[data-profile={name}]")
    expect(row).to_contain_text(f"network {other.name}")
    assert served.get(f"/profiles/{name}").json()["source"]["network"] == other.name
    some_more_profiles(served)
    page.reload()
    assert_local(page, served)
    screenshot(page, "profiles")

    wire_through(page, guest, name, lab.name, other.name)
    assert network_of(guest) == other.name
    assert slot_of(guest) == slot
    assert f'profile="{name}"' in guest.dom.XMLDesc()  # plugboard's record in the metadata
    screenshot(page, "vm-profile")

    change_the_profile_from_its_page(page, guest, name, other, lab)
    assert network_of(guest) == lab.name
    assert slot_of(guest) == slot
    page.goto(f"/hosts/th/vms/{guest.name}")
    card = page.get_by_role("article", name="vNIC nic1")
    expect(card.locator(".source")).to_contain_text(lab.name)
    expect(card.locator(".profile-of")).to_have_text(f"profile {name}")

    page.goto("/profiles")
    page.get_by_role("link", name=f"Delete profile {name}").click()
    page.get_by_role("button", name=f"Delete profile {name}").click()
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("PROFILE_IN_USE")
    expect(problem.locator("a.chip", has_text=f"{guest.name}/nic1")).to_be_visible()
    assert served.get(f"/profiles/{name}").status_code == 200


def change_the_profile_from_its_page(
    page: Page, guest: Guest, name: str, before: TestNetwork, after: TestNetwork
) -> None:
    page.goto("/profiles")
    page.get_by_role("link", name=f"Edit profile {name}").click()
    expect(page.get_by_label("Source name")).to_have_value(before.name)
    page.get_by_label("Source name").fill(after.name)
    page.get_by_role("button", name=f"Show the plan for profile {name}").click()
    plan = page.get_by_role("region", name=f"Plan for profile {name}")
    expect(plan.locator(".changes")).to_contain_text(f"libvirt network {after.name}")
    vnic = plan.locator(f"tr[data-vnic='{guest.name}/nic1']")
    expect(vnic).to_contain_text("live-update")
    assert network_of(guest) == before.name  # a dry run
    screenshot(page, "profile-plan")
    page.get_by_role("button", name=f"Apply to profile {name}").click()
    outcome = page.get_by_role("region", name=f"Outcome for profile {name}")
    row = outcome.locator(f"tr[data-vnic='{guest.name}/nic1']")
    expect(row.locator(".badge")).to_have_text("ok")
    expect(row).to_contain_text("live-update")


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_made(admin: Page, served: Service):
    page, name = admin, uniq("bad")
    page.goto("/profiles/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Source name").fill("lab")
    page.get_by_label("VLAN tags").fill("5000")
    page.get_by_label("Inbound peak").fill("100")  # a peak without its average
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("alert")).to_contain_text("VALIDATION_ERROR")
    expect(page.locator("#err-vlans")).to_contain_text("less than or equal to 4095")
    expect(page.get_by_label("VLAN tags")).to_have_attribute("aria-describedby", "err-vlans")
    expect(page.locator("#err-inbound_average")).to_contain_text("Field required")
    expect(page.get_by_label("VLAN tags")).to_have_value("5000")  # what was typed stays
    assert served.get(f"/profiles/{name}").status_code == 404

    page.get_by_label("VLAN tags").fill("")
    page.get_by_label("Inbound peak").fill("")
    page.get_by_label("Filter parameters").fill("IP 10.0.0.5")  # not KEY=VALUE
    page.get_by_role("button", name="Create profile").click()
    expect(page.locator("#err-filter_parameters")).to_contain_text("is not KEY=VALUE")
    assert served.get(f"/profiles/{name}").status_code == 404


def test_a_user_sees_the_profiles_without_change_controls(anonymous: Page, served: Service):
    some_more_profiles(served)
    secret = served.post("/tokens", json={"name": "viewer", "role": "user"}).json()["token"]
    page = anonymous
    sign_in(page, secret)
    page.get_by_role("link", name="Profiles").click()
    expect(page.get_by_role("table", name="Profiles")).to_contain_text("clean-traffic")
    expect(page.get_by_role("link", name="New profile")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^(Edit|Delete) profile"))).to_have_count(0)
    page.goto("/profiles/new")
    expect(page.get_by_role("alert")).to_contain_text("PERMISSION_DENIED")


def test_port_mirroring_switched_on_and_off_from_the_card(
    admin: Page, networks: NetworkFactory, guests: GuestFactory
):
    lab = networks.create("nat", persistent=True)
    guest = guests.boot(lab.name, persistent=True, wait=False)
    page = admin
    page.goto(f"/hosts/th/vms/{guest.name}")
    card = page.get_by_role("article", name="vNIC nic1")
    expect(card.locator(".mirroring")).to_have_text("off")
    card.get_by_role("button", name="Mirror the network on nic1").click()
    expect(card.locator(".mirroring .badge")).to_have_text("whole network")
    expect(card.get_by_role("status")).to_contain_text("not unplugged")
    assert "port-mirroring" in guest.dom.XMLDesc()
    card.get_by_role("button", name="Stop mirroring on nic1").click()
    expect(card.locator(".mirroring")).to_have_text("off")
    assert "port-mirroring" not in guest.dom.XMLDesc()
