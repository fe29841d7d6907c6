"""The web UI's host interfaces, templates and audit log pages in Chromium, against a served
plugboard and a real test host."""

import html
import itertools
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_local, screenshot, sign_in
from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.service import Service

_serial = itertools.count(1)
KERNEL = "/var/lib/plugboard/vmlinuz"


def uniq(prefix: str) -> str:
    return f"pbpage-{prefix}{next(_serial)}"


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value") or ""


# --- interfaces --------------------------------------------------------------------------------
def test_a_hosts_interfaces_and_the_networks_and_vms_that_use_them(
    admin: Page, served: Service, testhost: TestHost, networks: NetworkFactory,
    guests: GuestFactory,
):  # fmt: skip
    lab = networks.create("nat")
    guest = guests.boot(lab.name)
    page = admin
    page.goto("/hosts/th/networks")
    page.get_by_role("link", name="Interfaces").click()
    expect(page.get_by_role("heading", name="Interfaces on th")).to_be_visible()
    expect(page.get_by_role("link", name="Interfaces")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name="Interfaces")
    bridge = table.locator(f"tr[data-interface={lab.bridge}]")
    expect(bridge).to_contain_text("bridge")
    expect(bridge).to_contain_text(f"{lab.gateway}/24")
    expect(bridge.get_by_role("link", name=f"network {lab.name}")).to_be_visible()
    taps = table.locator("tr", has=page.locator(".kind", has_text=re.compile("^tap$")))
    tap = taps.filter(has=page.get_by_role("link", name=f"VM {guest.name}"))
    expect(tap).to_contain_text(lab.bridge)  # a port of the network's bridge
    tap_name = tap.locator("td").first.inner_text().strip()
    expect(bridge.locator(".ports")).to_contain_text(tap_name)
    assert_local(page, served)
    screenshot(page, "interfaces")

    page.get_by_label("Type").select_option("bridge")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/hosts/th/interfaces\?type=bridge$"))
    expect(bridge).to_be_visible()
    expect(table.locator(f"tr[data-interface={tap_name}]")).to_have_count(0)

    bridge.get_by_role("link", name=f"network {lab.name}").click()
    expect(page.get_by_role("heading", name=re.compile(lab.name))).to_be_visible()


# --- templates ---------------------------------------------------------------------------------
def fill_new_template(page: Page, name: str, network: str) -> None:
    """512 MiB, 2 vCPUs, a kernel, a vNIC on `network` and a macvtap one on eth0 (bridge)."""
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Memory").fill("512")
    page.get_by_label("vCPUs").fill("2")
    page.get_by_label("Kernel", exact=True).fill(KERNEL)
    page.get_by_label("Kernel command line").fill("console=ttyS0")
    page.get_by_label("Name of vNIC 1").fill(network)
    page.get_by_role("button", name="Add a vNIC row").click()  # works without JavaScript too
    page.get_by_label("Kind of vNIC 2").select_option("macvtap")
    page.get_by_label("Name of vNIC 2").fill("eth0")
    page.get_by_label("macvtap mode of vNIC 2").select_option("bridge")


def test_create_edit_refuse_and_delete_a_template_then_find_it_in_the_log(
    admin: Page, served: Service, networks: NetworkFactory
):
    lab = networks.create("nat")
    name = uniq("web")
    page = admin
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name=re.compile("^Templates"))).to_be_visible()
    page.get_by_role("link", name="New template").click()
    fill_new_template(page, name, lab.name)
    assert_local(page, served)
    page.get_by_role("button", name="Create template").click()

    row = page.locator(f"tr[data-template={name}]")
    expect(row).to_contain_text("512 MiB")
    expect(row).to_contain_text(f"network {lab.name}")
    expect(row).to_contain_text("macvtap on eth0 (bridge)")
    made = served.get(f"/templates/{name}").json()
    assert made["networks"] == [lab.name] and made["vcpus"] == 2
    assert made["interfaces"] == [{"type": "macvtap", "source": ["eth0"], "mode": "bridge"}]
    assert made["boot"]["cmdline"] == "console=ttyS0"
    screenshot(page, "templates")

    page.get_by_role("link", name=f"Edit template {name}").click()
    expect(page.get_by_label("Name of vNIC 2")).to_have_value("eth0")
    page.get_by_label("Memory").fill("8")  # under the API's 16 MiB
    page.get_by_label("Name of vNIC 3").fill("not a name!")
    page.get_by_role("button", name=f"Save template {name}").click()
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("Invalid input.")
    expect(problem).to_contain_text("memory_mib: Input should be greater than or equal to 16")
    memory_error = page.locator("#err-memory_mib")
    expect(memory_error).to_have_text("Input should be greater than or equal to 16")
    expect(page.get_by_label("Memory")).to_have_attribute("aria-describedby", "err-memory_mib")
    expect(page.locator("#err-nic2")).to_contain_text("String should match pattern")
    assert served.get(f"/templates/{name}").json() == made  # nothing changed
    screenshot(page, "template-edit")

    page.get_by_label("Memory").fill("1024")
    page.get_by_label("Name of vNIC 3").fill("")
    page.get_by_label("Name of vNIC 2").fill("")  # cleared: the macvtap vNIC goes
    page.get_by_role("button", name=f"Save template {name}").click()
    expect(row).to_contain_text("1024 MiB")
    expect(row).not_to_contain_text("macvtap")
    changed = served.get(f"/templates/{name}").json()
    assert (changed["memory_mib"], changed["interfaces"]) == (1024, [])

    page.get_by_role("link", name=f"Delete template {name}").click()
    expect(page.get_by_role("heading", name=f"Delete template {name}?")).to_be_visible()
    page.get_by_role("button", name=f"Delete template {name}").click()
    expect(row).to_have_count(0)
    assert served.get(f"/templates/{name}").status_code == 404

    served.post("/templates", json={"name": uniq("api"), "boot": {"kernel": KERNEL}})
    expect_the_web_changes_logged(page, name)


def expect_the_web_changes_logged(page: Page, name: str) -> None:
    """The log has a template's three changes, marked (web), newest first; the target
    filter leaves out every other event."""
    page.get_by_role("link", name="Events").click()
    page.get_by_label("Target contains").fill(name)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"/events\?target_contains={name}$"))
    events = page.get_by_role("table", name="Events")
    expect(events.locator("tbody tr")).to_have_count(3)
    expect(events.locator("tbody tr td.action")).to_have_text(
        ["DELETE /templates/{name} (web)", "PUT /templates/{name} (web)", "POST /templates (web)"]
    )
    expect(events.locator("tbody tr").first).to_contain_text(f"templates/{name}")
    expect(events.locator("tbody tr").first.locator(".badge")).to_have_text("ok")


# --- the audit log -----------------------------------------------------------------------------
def test_the_log_filtered_by_actor_action_and_outcome_and_paged(admin: Page, served: Service):
    mark = uniq("log")
    for n in range(55):  # enough for two pages: cheap API changes, each in the log
        target = f"{mark}-{n:02d}"
        assert served.post("/templates", json={"name": target, "boot": {"disk": "/d"}}).is_success
        if n == 2:  # one refused, among the oldest
            again = served.post("/templates", json={"name": target, "boot": {"disk": "/d"}})
            assert again.status_code == 409
    page = admin
    page.goto("/events")
    expect(page.get_by_role("link", name="Events")).to_have_attribute("aria-current", "page")
    page.get_by_label("Target contains").fill(mark)
    page.get_by_role("button", name="Filter").click()
    events = page.get_by_role("table", name="Events")
    expect(events.locator("tbody tr")).to_have_count(50)
    pager = page.get_by_role("navigation", name="Pages of events").first
    expect(pager).to_contain_text("1\u201350 of 56")
    expect(events.locator("tbody tr").first).to_contain_text(f"templates/{mark}-54")

    pager.get_by_role("link", name="Older").click()
    expect(page).to_have_url(re.compile(rf"target_contains={mark}&offset=50$"))
    expect(events.locator("tbody tr")).to_have_count(6)
    expect(pager).to_contain_text("51\u201356 of 56")
    expect(events.locator("tbody tr").last).to_contain_text(f"templates/{mark}-00")
    expect(events.locator("tr", has_text="TEMPLATE_EXISTS")).to_contain_text(f"{mark}-02")
    screenshot(page, "events")
    expect(pager.get_by_role("link", name="Older")).to_have_count(0)
    pager.get_by_role("link", name="Newer").click()
    expect(events.locator("tbody tr")).to_have_count(50)

    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(events.locator("tbody tr")).to_have_count(1)
    expect(events.locator("tbody tr")).to_contain_text("409")
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Actor").fill("admin")
    page.get_by_label("Action contains").fill("(web)")
    page.get_by_role("button", name="Filter").click()
    expect(events).to_contain_text("No events match these filters.")

    # A bad filter: the API's 422 words by the filters, and no table.
    page.goto("/events?outcome=maybe")
    expect(page.get_by_role("alert")).to_contain_text("outcome: Input should be 'ok' or 'failed'")
    expect(page.get_by_role("table", name="Events")).to_have_count(0)
    page.get_by_role("link", name="Clear").click()
    expect(page.get_by_role("table", name="Events")).to_be_visible()


# --- a user token ------------------------------------------------------------------------------
def test_a_user_token_sees_templates_and_the_log_without_change_controls(
    anonymous: Page, served: Service
):
    name = uniq("ro")
    served.post("/templates", json={"name": name, "boot": {"kernel": KERNEL}})
    secret = served.post("/tokens", json={"name": uniq("viewer"), "role": "user"}).json()["token"]
    page = anonymous
    sign_in(page, secret)
    page.goto("/templates")
    expect(page.locator(f"tr[data-template={name}]")).to_be_visible()
    expect(page.get_by_role("link", name="New template")).to_have_count(0)
    expect(page.get_by_role("link", name=f"Edit template {name}")).to_have_count(0)
    expect(page.get_by_role("link", name=f"Delete template {name}")).to_have_count(0)
    # a read-only token sees every host but not its interfaces (a host-admin's)
    page.goto("/hosts/th/networks")
    expect(page.get_by_role("link", name="Interfaces")).to_have_count(0)
    assert page.goto("/hosts/th/interfaces").status == 403
    page.goto("/events")
    expect(page.get_by_role("table", name="Events")).to_contain_text(f"templates/{name}")
    forged = page.request.post(f"/templates/{name}/delete", form={"csrf": csrf_of(page)})
    assert forged.status == 403
    assert "this needs the role admin" in html.unescape(forged.text())
    assert served.get(f"/templates/{name}").status_code == 200
