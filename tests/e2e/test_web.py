"""The web UI's first pages in Chromium: sign-in, hosts, a host's networks, a network's page,
against a served plugboard and a real test host with a booted guest."""

import html
import itertools
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_local, screenshot, sign_in
from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.service import Service

_serial = itertools.count(1)


def uniq(prefix: str) -> tuple[str, int]:
    n = next(_serial)
    return f"pbweb-{prefix}{n}", n


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value") or ""


def host_names(service: Service) -> list[str]:
    return [h["name"] for h in service.get("/hosts").json()]


# --- sign-in -----------------------------------------------------------------------------------
def test_sign_in_with_a_bad_token_then_a_good_one_then_sign_out(anonymous: Page, served: Service):
    page = anonymous
    page.goto("/hosts/th/networks")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/hosts/th/networks$"))
    page.get_by_label("API token").fill("pb_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Authentication required.")
    expect(page.get_by_role("alert")).to_contain_text("the token is not known")
    assert_local(page, served)

    page.get_by_label("API token").fill(served.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/hosts/th/networks$"))  # back where it was going
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "pb_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # plain HTTP on 127.0.0.1; Secure when the request came over TLS
    assert served.token not in cookie["value"]
    assert "pb_sign_in" not in [c["name"] for c in page.context.cookies()]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/hosts")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    admin: Page, served: Service, testhost: TestHost
):
    for sent in ({}, {"csrf": "forged"}):
        answer = admin.request.post(
            "/hosts", form={"name": "sneaky", "uri": testhost.uri, "domain_type": "qemu", **sent}
        )
        assert answer.status == 403
        assert "CSRF token is missing or not this session" in html.unescape(answer.text())
    assert "sneaky" not in host_names(served)
    # Sign-out needs it too: the session still works.
    assert admin.request.post("/sign-out", form={}).status == 403
    admin.goto("/hosts")
    expect(admin.get_by_role("heading", name="Hosts")).to_be_visible()


def test_a_user_token_reads_but_gets_no_change_actions(anonymous: Page, served: Service):
    secret = served.post("/tokens", json={"name": "viewer", "role": "user"}).json()["token"]
    page = anonymous
    sign_in(page, secret)
    expect(page.locator(".badge.user")).to_have_text("user")
    expect(page.get_by_role("link", name="Edit th")).to_have_count(0)
    expect(page.get_by_role("heading", name="Add a host")).to_have_count(0)
    page.goto("/hosts/th/networks")
    expect(page.get_by_role("table", name="Networks")).to_be_visible()
    expect(page.get_by_role("link", name="New network")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Start|Stop) "))).to_have_count(0)
    forged = page.request.post(
        "/hosts", form={"csrf": csrf_of(page), "name": "x", "uri": "test:///default"}
    )
    assert forged.status == 403
    assert (
        "token 'viewer' of user 'admin' may not change hosts: this needs the role admin"
        in html.unescape(forged.text())
    )
    assert "x" not in host_names(served)


# --- hosts -------------------------------------------------------------------------------------
def test_hosts_add_edit_remove(admin: Page, served: Service, testhost: TestHost):
    page = admin
    page.get_by_label("Name", exact=True).fill("th2")
    page.get_by_label("libvirt URI").fill("qemu:///nowhere")
    page.get_by_role("button", name="Add host").click()
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("Invalid input.")
    expect(problem).to_contain_text("uri: Value error, 'qemu:///nowhere' is not a libvirt URI")
    assert "th2" not in host_names(served)

    page.get_by_label("libvirt URI").fill(testhost.uri)
    page.get_by_label("Domain type").select_option("qemu")
    page.get_by_role("button", name="Add host").click()
    row = page.locator("tr[data-host=th2]")
    expect(row).to_be_visible()
    page.goto("/hosts")  # connected once the connection opens
    expect(row.locator(".badge")).to_have_text("connected")
    expect(row).to_contain_text(re.compile(r"\d+\.\d+\.\d+"))  # libvirt's version
    expect(row).to_contain_text("QEMU")
    assert_local(page, served)
    screenshot(page, "hosts")

    page.get_by_role("link", name="Edit th2").click()
    page.get_by_label("Domain type").select_option("auto")
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("(auto)")
    assert served.get("/hosts/th2").json()["domain_type_setting"] == "auto"

    page.get_by_role("link", name="Remove th2").click()
    expect(page.get_by_role("heading", name="Remove host th2?")).to_be_visible()
    page.get_by_role("button", name="Remove th2").click()
    expect(page.locator("tr[data-host=th2]")).to_have_count(0)
    assert "th2" not in host_names(served)


# --- networks ----------------------------------------------------------------------------------
def test_create_a_nat_network_from_the_form_then_stop_start_autostart(
    admin: Page, served: Service, testhost: TestHost, cleanup_networks
):
    name, n = uniq("form")
    cleanup_networks.append(name)
    page = admin
    page.goto("/hosts/th/new-network")
    assert_local(page, served)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Mode", exact=True).select_option("nat")
    page.locator("#net-bridge").fill(f"pbw{n}")
    page.locator("#net-ipv4").fill(f"10.66.{n}.1/24")
    page.locator("#net-ipv4-start").fill(f"10.67.{n}.100")  # outside the subnet
    page.locator("#net-ipv4-end").fill(f"10.66.{n}.200")
    page.get_by_role("button", name="Create network").click()
    expect(page.get_by_role("alert")).to_contain_text("/network/ip[1]/dhcp/range[1]")
    assert name not in testhost.conn.listNetworks() + testhost.conn.listDefinedNetworks()

    page.locator("#net-ipv4-start").fill(f"10.66.{n}.100")
    page.get_by_role("button", name="Create network").click()
    expect(page.locator("#network-xml")).to_contain_text(f"<range start='10.66.{n}.100'")
    net = testhost.conn.networkLookupByName(name)
    assert net.isActive() and net.isPersistent() and not net.autostart()

    page.get_by_role("link", name="Networks", exact=True).first.click()
    row = page.locator(f"tr[data-network={name}]")
    expect(row).to_contain_text(f"10.66.{n}.1/24")
    expect(row).to_contain_text(f"10.66.{n}.100 \u2013\u00a010.66.{n}.200")
    expect(row).to_contain_text("nat")
    page.get_by_role("button", name=f"Stop {name}").click()
    expect(row.get_by_text("inactive")).to_be_visible()
    assert not net.isActive()
    page.get_by_role("button", name=f"Start {name}").click()
    expect(row.get_by_text("active", exact=True)).to_be_visible()
    assert net.isActive()
    page.get_by_role("button", name=f"Autostart on {name}").click()
    expect(page.get_by_role("button", name=f"Autostart off {name}")).to_be_visible()
    assert net.autostart()
    assert_local(page, served)
    screenshot(page, "networks")


def test_create_from_pasted_xml_checked_as_it_is_typed(
    admin: Page, served: Service, testhost: TestHost, cleanup_networks
):
    name, n = uniq("xml")
    cleanup_networks.append(name)
    page = admin
    page.goto("/hosts/th/new-network")
    bad = (
        f"<network><name>{name}</name><forward mode='nat'/><bridge name='pbx{n}'/>"
        f"<ip address='10.68.{n}.1' prefix='24'><dhcp><range start='10.68.{n}.100' "
        f"end='10.99.{n}.200'/></dhcp></ip></network>"
    )
    page.get_by_label("Network XML").fill(bad)
    check = page.locator("#xml-check")
    expect(check).to_contain_text("/network/ip[1]/dhcp/range[1]")
    submit = page.get_by_role("button", name="Define from XML")
    expect(submit).to_be_disabled()
    screenshot(page, "create-network-xml-error")
    # Posted anyway (the button bypassed): refused, nothing defined.
    answer = page.request.post(
        "/hosts/th/new-network", form={"csrf": csrf_of(page), "source": "xml", "xml": bad}
    )
    assert answer.status == 422 and "/network/ip[1]/dhcp/range[1]" in html.unescape(answer.text())
    assert name not in testhost.conn.listNetworks() + testhost.conn.listDefinedNetworks()

    page.get_by_label("Network XML").fill(bad.replace(f"10.99.{n}.200", f"10.68.{n}.200"))
    expect(check).to_contain_text(f"Valid network XML for {name}")
    expect(submit).to_be_enabled()
    submit.click()
    expect(page.get_by_role("heading", name=re.compile(name))).to_be_visible()
    assert testhost.conn.networkLookupByName(name).isActive()


def test_a_network_in_use_its_leases_reservations_and_dns_hosts(
    admin: Page, served: Service, testhost: TestHost, networks: NetworkFactory,
    guests: GuestFactory,
):  # fmt: skip
    lab = networks.create("nat", persistent=True)
    guest = guests.boot(lab.name)
    mac = guest.macs()[0]
    address = guest.wait_for_address(mac, lab.subnet)
    page = admin

    page.goto("/hosts/th/networks")
    row = page.locator(f"tr[data-network={lab.name}]")
    expect(row.locator(".chip")).to_have_text(guest.name)
    page.get_by_role("link", name=f"Delete {lab.name}").click()
    page.get_by_role("button", name=f"Delete {lab.name}").click()
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("Network in use.")
    expect(problem).to_contain_text(f"is used by {guest.name}")
    expect(problem.locator(".chip")).to_have_text(guest.name)
    assert lab.net.isActive()

    page.goto(f"/hosts/th/networks/{lab.name}")
    leases = page.get_by_role("table", name="DHCP leases")
    lease = leases.locator("tr", has_text=str(address.ip))
    expect(lease).to_contain_text(mac)
    expect(lease).to_contain_text(guest.name)
    expect(lease).to_contain_text("nic1")
    expect(page.locator("#network-xml")).to_contain_text(f"<name>{lab.name}</name>")

    reserved_ip = str(list(lab.subnet.hosts())[9])
    page.get_by_label("MAC").fill("52:54:00:aa:bb:07")
    page.get_by_label("IP", exact=True).first.fill(reserved_ip)
    page.get_by_role("button", name="Add reservation").click()
    reservations = page.get_by_role("table", name="DHCP reservations")
    expect(reservations).to_contain_text("52:54:00:aa:bb:07")
    assert f"<host mac='52:54:00:aa:bb:07' ip='{reserved_ip}'/>" in lab.net.XMLDesc()

    page.locator("#dns-ip").fill(reserved_ip)
    page.get_by_label("Hostnames").fill("db db.lab")
    page.get_by_role("button", name="Add DNS host").click()
    expect(page.get_by_role("table", name="DNS hosts")).to_contain_text("db, db.lab")
    assert "<hostname>db.lab</hostname>" in lab.net.XMLDesc()
    assert_local(page, served)
    screenshot(page, "network")

    page.get_by_role("button", name="Remove reservation 52:54:00:aa:bb:07").click()
    expect(reservations).not_to_contain_text("52:54:00:aa:bb:07")
    assert "52:54:00:aa:bb:07" not in lab.net.XMLDesc()
    page.get_by_role("button", name=f"Remove DNS host {reserved_ip}").click()
    expect(page.get_by_role("table", name="DNS hosts")).to_contain_text("No DNS hosts.")
    assert "db.lab" not in lab.net.XMLDesc()

    # A bad reservation: the problem beside its form, and libvirt's XML unchanged.
    before = lab.net.XMLDesc()
    page.get_by_label("MAC").fill("not-a-mac")
    page.get_by_label("IP", exact=True).first.fill(reserved_ip)
    page.get_by_role("button", name="Add reservation").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid input.")
    assert lab.net.XMLDesc() == before
