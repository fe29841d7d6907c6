"""vNICs of running VMs, seen from inside booted guests: link, re-wire, plug, MAC change,
rollback, removal rules, concurrency, how a stopped VM starts, and the audit log's lines."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
import subprocess
import time

import libvirt
import pytest
from lxml import etree

from plugboard.vnic.metadata import NS
from tests.harness import Guest, GuestFactory, NetworkFactory, TestHost, TestNetwork
from tests.harness.guest import INITRD, KERNEL, NicSpec
from tests.unit.test_api_auth import assert_problem

VM = "/hosts/th/vms"


@pytest.fixture
def two_networks(networks: NetworkFactory) -> tuple[TestNetwork, TestNetwork]:
    return networks.create(), networks.create()


@pytest.fixture
def guest(guests: GuestFactory, two_networks) -> Guest:
    """A defined (persistent), running guest with nic1 on the first network."""
    return guests.boot(two_networks[0].name, persistent=True)


def nic_path(guest: Guest, nic: str = "nic1") -> str:
    return f"{VM}/{guest.name}/nics/{nic}"


def xml_snapshot(dom: libvirt.virDomain) -> tuple[str, str, str | None]:
    """The live XML, the persistent XML, and plugboard's metadata, as libvirt has them. An
    empty <metadata/> is left out: libvirt keeps one once metadata was written and removed
    again (a change of several steps marks itself there while it runs), and it holds
    nothing."""
    live = _no_empty_metadata(dom.XMLDesc(0)) if dom.isActive() else None
    persistent = _no_empty_metadata(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    try:
        meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, 0)
    except libvirt.libvirtError:
        meta = None
    return live, persistent, meta


def _no_empty_metadata(xml: str) -> str:
    return re.sub(r"\n\s*<metadata/>", "", xml)


def guest_pci(guest: Guest, mac: str) -> str | None:
    nic = guest.nic_by_mac(mac)
    return nic.pci_address if nic else None


def patch(svc, guest: Guest, body: dict, nic: str = "nic1", **headers):
    return svc.patch(nic_path(guest, nic), json=body, headers=headers)


# --- 1. link -----------------------------------------------------------------------------------
def test_link_down_and_up_is_the_guests_carrier(svc, guest):
    nic = svc.get(nic_path(guest)).json()
    assert nic["linked"] and nic["plugged"] and nic["active"]
    assert guest.nic_by_mac(nic["mac"]).carrier == 1

    down = patch(svc, guest, {"linked": False})
    assert down.status_code == 200, down.text
    assert [a["kind"] for a in down.json()["plan"]] == ["live-update"]
    assert down.json()["vnic"]["active"] is False
    guest.wait_for("carrier 0", lambda: guest.nic_by_mac(nic["mac"]).carrier == 0)
    link = guest.interface_xml("ua-nic1").find("link")
    assert link is not None and link.get("state") == "down"

    up = patch(svc, guest, {"linked": True})
    assert up.status_code == 200, up.text
    guest.wait_for("carrier 1", lambda: guest.nic_by_mac(nic["mac"]).carrier == 1)
    assert svc.get(nic_path(guest)).json()["active"] is True


def test_a_card_has_one_name_in_the_vnic_api_its_leases_and_the_audit_log(svc, guests, networks):
    """A card plugboard did not make (no user alias, as virsh makes them) is `mac-` and its
    MAC everywhere; a card it made is its alias' name everywhere."""
    net = networks.create()
    guest = guests.boot(nics=[NicSpec(net.name, alias=None), NicSpec(net.name, alias="ua-nic1")])
    adopted_mac, made_mac = guest.macs()
    adopted = "mac-" + adopted_mac.replace(":", "")
    listed = {n["mac"]: n["name"] for n in svc.get(f"{VM}/{guest.name}/nics").json()}
    assert listed == {adopted_mac: adopted, made_mac: "nic1"}

    for mac in listed:
        guest.wait_for_address(mac, net.subnet)
    leases = svc.get(f"/hosts/th/networks/{net.name}/leases").json()
    assert {lease["mac"]: (lease["vm"], lease["vnic"]) for lease in leases} == {
        mac: (guest.name, name) for mac, name in listed.items()
    }

    changed = svc.patch(f"{VM}/{guest.name}/nics/{adopted}", json={"linked": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["vnic"]["name"] == adopted
    events = svc.get("/events", params={"target": f"hosts/th/vms/{guest.name}/nics"}).json()
    assert events["items"][0]["target"] == f"hosts/th/vms/{guest.name}/nics/{adopted}"


# --- 2. re-wire --------------------------------------------------------------------------------
def capture(host: TestHost, bridge: str, mac: str) -> subprocess.Popen:
    """tcpdump on `bridge` in the test host: ARP and RARP frames from `mac`."""
    proc = subprocess.Popen(
        [
            "ip", "netns", "exec", host.netns,
            "tcpdump", "-l", "-n", "-e", "-i", bridge, "-c", "50",
            f"ether src {mac} and (arp or rarp)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    time.sleep(1.0)  # tcpdump is listening once it has opened the bridge
    return proc


def test_rewire_keeps_the_pci_address_announces_and_leases_on_the_new_network(
    svc, guest, two_networks, testhost
):
    net_a, net_b = two_networks
    before = svc.get(nic_path(guest)).json()
    mac = before["mac"]
    guest.wait_for_address(mac, net_a.subnet)
    pci_in_guest = guest_pci(guest, mac)
    tcpdump = capture(testhost, net_b.bridge, mac)
    try:
        moved = patch(svc, guest, {"source": {"type": "network", "network": net_b.name}})
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert [a["kind"] for a in body["plan"]] == ["live-update"]
        assert body["keeps_pci_address"] is True
        assert body["vnic"]["source"] == {
            "type": "network",
            "network": net_b.name,
            "portgroup": None,
        }
        assert body["vnic"]["pci_address"] == before["pci_address"]
        guest.wait_for_address(mac, net_b.subnet)
        time.sleep(1.0)
    finally:
        tcpdump.terminate()
        out, _ = tcpdump.communicate(timeout=10)
    assert guest_pci(guest, mac) == pci_in_guest
    assert guest.interface_xml("ua-nic1").find("source").get("network") == net_b.name
    # QEMU's announce-self: RARP from QEMU, or (virtio) a gratuitous ARP from the guest.
    announced = [
        line
        for line in out.splitlines()
        if "Reverse Request" in line or re.search(r"who-has (\S+) tell \1\b", line)
    ]
    assert announced, f"no announcement from {mac} on {net_b.bridge}:\n{out}"
    after = svc.get(nic_path(guest)).json()
    assert any(ip.startswith(str(net_b.subnet.network_address)[:-1]) for ip in after["ips"])


# --- 3. unplug / plug --------------------------------------------------------------------------
def test_unplug_survives_a_restart_and_plug_brings_it_back_with_its_link_state(svc, guest):
    nic = svc.get(nic_path(guest)).json()
    mac = nic["mac"]
    unplugged = patch(svc, guest, {"plugged": False, "linked": False})
    assert unplugged.status_code == 200, unplugged.text
    assert [a["kind"] for a in unplugged.json()["plan"]] == ["unplug"]
    guest.wait_for("the NIC to go", lambda: guest.nic_by_mac(mac) is None)
    listed = svc.get(f"{VM}/{guest.name}/nics").json()
    assert [(n["name"], n["plugged"], n["linked"]) for n in listed] == [("nic1", False, False)]
    assert guest.macs() == []

    assert svc.post(f"{VM}/{guest.name}/destroy").status_code == 200
    started = svc.post(f"{VM}/{guest.name}/start")
    assert started.status_code == 200, started.text
    guest.reconnect()
    assert guest.nic_by_mac(mac) is None
    assert svc.get(nic_path(guest)).json()["plugged"] is False

    plugged = patch(svc, guest, {"plugged": True})
    assert plugged.status_code == 200, plugged.text
    assert [a["kind"] for a in plugged.json()["plan"]] == ["plug"]
    seen = guest.wait_for("the NIC to come back", lambda: guest.nic_by_mac(mac))
    assert seen.carrier == 0  # it was unplugged unlinked: it comes back without cable
    assert plugged.json()["vnic"]["pci_address"] == nic["pci_address"]


# --- 4. MAC change ------------------------------------------------------------------------------
def test_mac_change_replugs_into_the_same_slot(svc, guest):
    nic = svc.get(nic_path(guest)).json()
    old_pci = guest_pci(guest, nic["mac"])
    changed = patch(svc, guest, {"mac": "56:6f:70:aa:00:01"})
    assert changed.status_code == 200, changed.text
    assert [a["kind"] for a in changed.json()["plan"]] == ["unplug", "plug"]
    assert changed.json()["vnic"]["pci_address"] == nic["pci_address"]
    seen = guest.wait_for("the new MAC", lambda: guest.nic_by_mac("56:6f:70:aa:00:01"))
    assert seen.pci_address == old_pci
    assert guest.nic_by_mac(nic["mac"]) is None
    root = etree.fromstring(guest.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    assert root.xpath("//interface/mac/@address") == ["56:6f:70:aa:00:01"]


# --- 5. failures leave everything as it was ------------------------------------------------------
def test_rewire_refused_by_libvirt_fails_with_51_and_changes_nothing(
    svc, guest, networks: NetworkFactory, testhost: TestHost
):
    # A network whose bridge is gone: plugboard sees it active, libvirt cannot join it.
    broken = networks.create(persistent=True)
    testhost.run("ip", "link", "delete", broken.bridge)
    before = xml_snapshot(guest.dom)
    response = patch(svc, guest, {"source": {"type": "network", "network": broken.name}})
    assert_problem(response, 409, "UPDATE_VNIC_FAILED")
    assert response.json()["error_code"] == 51
    assert response.json()["title"] == "Failed to update VM Network Interface."
    assert xml_snapshot(guest.dom) == before


def normalized(xml: str) -> str:
    """The XML without what a re-plugged card gets anew from libvirt (tap name, port id)."""
    xml = re.sub(r"<target dev='vnet\d+'/>", "", xml)
    return re.sub(r" portid='[^']*'", "", xml)


def test_failed_replug_puts_the_old_card_back_into_its_slot(svc, guest, networks, testhost):
    broken = networks.create(persistent=True)
    testhost.run("ip", "link", "delete", broken.bridge)
    nic = svc.get(nic_path(guest)).json()
    before = xml_snapshot(guest.dom)
    # A new MAC means unplug + plug; the plug fails (its network's bridge is gone) and the
    # old card must go back as it was.
    response = patch(
        svc,
        guest,
        {"mac": "56:6f:70:aa:00:02", "source": {"type": "network", "network": broken.name}},
    )
    assert_problem(response, 409, "UPDATE_VNIC_FAILED")
    assert response.json()["rollback_errors"] == []
    after = xml_snapshot(guest.dom)
    assert normalized(after[0]) == normalized(before[0])
    assert after[1:] == before[1:]
    back = guest.wait_for("the card back", lambda: guest.nic_by_mac(nic["mac"]))
    assert back.pci_address is not None


def test_unknown_network_and_bad_macs_are_refused_before_anything_changes(svc, guest):
    before = xml_snapshot(guest.dom)
    cases = [
        ({"source": {"type": "network", "network": "nope"}}, 422, "NETWORK_NOT_FOUND"),
        ({"mac": "01:00:5e:00:00:01"}, 422, "MAC_ADDRESS_INVALID"),
        ({"mac": "00:00:00:00:00:00"}, 422, "MAC_ADDRESS_INVALID"),
        ({"mac": "zz:00:00:00:00:01"}, 422, "MAC_ADDRESS_INVALID"),
        ({"model": "virtio-9000"}, 422, "VALIDATION_ERROR"),
        ({"plugged": None}, 422, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        assert_problem(patch(svc, guest, body), status, code)
    assert_problem(patch(svc, guest, {"linked": False}, nic="nic9"), 404, "VNIC_NOT_FOUND")
    assert xml_snapshot(guest.dom) == before


def test_mac_in_use_and_pool_exhaustion(svc, guests, guest, two_networks):
    other = guests.boot(two_networks[1].name)
    other_mac = other.macs()[0]
    before = xml_snapshot(guest.dom)
    in_use = patch(svc, guest, {"mac": other_mac})
    assert_problem(in_use, 409, "MAC_ADDRESS_IN_USE")
    assert xml_snapshot(guest.dom) == before

    mine = svc.get(nic_path(guest)).json()["mac"]
    pool = svc.request("PUT", "/macpool", json={"ranges": [f"{mine}-{mine}"]})
    assert pool.status_code == 200, pool.text
    added = svc.post(f"{VM}/{guest.name}/nics", json={"plugged": False})
    assert_problem(added, 409, "MAC_POOL_EXHAUSTED")
    assert xml_snapshot(guest.dom) == before


def test_dry_run_shows_the_plan_and_changes_nothing(svc, guest, two_networks):
    before = xml_snapshot(guest.dom)
    response = svc.patch(
        nic_path(guest) + "?dry_run=true", json={"mac": "56:6f:70:aa:00:03", "linked": False}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] is False
    assert [a["kind"] for a in body["plan"]] == ["unplug", "plug"]
    assert "MAC" in body["plan"][0]["reason"]
    assert xml_snapshot(guest.dom) == before


# --- 6. removal ---------------------------------------------------------------------------------
def test_a_plugged_vnic_of_a_running_vm_cannot_be_removed(svc, guest):
    before = xml_snapshot(guest.dom)
    assert_problem(svc.delete(nic_path(guest)), 409, "CANNOT_REMOVE_ACTIVE_DEVICE")
    assert xml_snapshot(guest.dom) == before
    mac = svc.get(nic_path(guest)).json()["mac"]
    assert patch(svc, guest, {"plugged": False}).status_code == 200
    assert svc.delete(nic_path(guest)).status_code == 204
    assert_problem(svc.get(nic_path(guest)), 404, "VNIC_NOT_FOUND")
    live, persistent, meta = xml_snapshot(guest.dom)
    assert mac not in live and mac not in persistent and meta is None
    assert guest.nic_by_mac(mac) is None


# --- 7. concurrency -------------------------------------------------------------------------------
def test_concurrent_patches_apply_or_get_412(svc, guest, two_networks):
    etag = svc.get(nic_path(guest)).headers["ETag"]
    bodies = [
        {"source": {"type": "network", "network": two_networks[i % 2].name}, "linked": i % 3 != 0}
        for i in range(20)
    ]

    def send(body):
        return body, patch(svc, guest, body, **{"If-Match": etag})

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(send, bodies))
    ok = [(body, r) for body, r in results if r.status_code == 200]
    refused = [r for _, r in results if r.status_code != 200]
    for r in refused:
        assert_problem(r, 412, "PRECONDITION_FAILED")
    assert len(ok) + len(refused) == 20
    # Everyone sent the same ETag: once one request changed the vNIC, the ETag changed and
    # every later one was refused. Requests that asked for the state it already had change
    # nothing (applied: false). So exactly one changed it, and its state is the final one.
    changed = [body for body, r in ok if r.json()["applied"]]
    assert len(changed) == 1, [r.json() for _, r in ok]
    final = svc.get(nic_path(guest)).json()
    assert final["source"]["network"] == changed[0]["source"]["network"]
    assert final["linked"] == changed[0]["linked"]
    iface = guest.interface_xml("ua-nic1")
    assert iface.find("source").get("network") == final["source"]["network"]
    link = iface.find("link")
    assert (link is None or link.get("state") == "up") == final["linked"]


# --- 8. how a stopped VM starts ---------------------------------------------------------------
def test_a_stopped_vm_starts_with_each_vnic_as_its_state_says(svc, guests, two_networks):
    net = two_networks[0]
    guest = guests.boot(net.name, persistent=True)
    guest.dom.destroy()
    macs = {}
    for plugged in (True, False):
        for linked in (True, False):
            made = svc.post(
                f"{VM}/{guest.name}/nics",
                json={
                    "source": {"type": "network", "network": net.name},
                    "plugged": plugged,
                    "linked": linked,
                },
            )
            assert made.status_code == 201, made.text
            assert [a["kind"] for a in made.json()["plan"]] == ["config-only"]
            macs[(plugged, linked)] = made.json()["vnic"]["mac"]
    assert svc.post(f"{VM}/{guest.name}/start").status_code == 200
    guest.reconnect()
    for (plugged, linked), mac in macs.items():
        seen = guest.nic_by_mac(mac)
        if not plugged:
            assert seen is None
            continue
        assert seen is not None
        if linked:
            guest.wait_for_address(mac, net.subnet)
        else:
            assert guest.nic_by_mac(mac).carrier == 0
    listed = {n["mac"]: n for n in svc.get(f"{VM}/{guest.name}/nics").json()}
    for (plugged, linked), mac in macs.items():
        assert (listed[mac]["plugged"], listed[mac]["linked"]) == (plugged, linked)


# --- VMs made by plugboard ------------------------------------------------------------------
def test_vm_made_through_the_api_boots_with_its_vnics_and_no_network_becomes_a_network(
    svc, testhost, two_networks
):
    net = two_networks[0]
    name = f"pbtest-api{time.monotonic_ns() % 100000}"
    body = {
        "name": name,
        "memory_mib": 160,
        "boot": {"kernel": str(KERNEL), "initrd": str(INITRD), "cmdline": "console=ttyS0"},
        "nics": [
            {"source": {"type": "network", "network": net.name}},
            {"source": None},
            {"source": {"type": "network", "network": net.name}, "plugged": False},
        ],
    }
    try:
        made = svc.post(f"{VM}?start=true", json=body)
        assert made.status_code == 201, made.text
        vm = made.json()
        assert vm["state"] == "running" and vm["domain_type"] == "qemu"
        nics = {n["name"]: n for n in vm["nics"]}
        assert [(n, nics[n]["plugged"], nics[n]["source"] is None) for n in sorted(nics)] == [
            ("nic1", True, False),
            ("nic2", True, True),
            ("nic3", False, False),
        ]
        listed = {v["name"]: v for v in svc.get(VM).json()}
        assert listed[name]["state"] == "running"
        dom = testhost.conn.lookupByName(name)
        live = etree.fromstring(dom.XMLDesc(0).encode())
        # the vNIC with no network sits on the black-hole bridge without its cable
        nonet = live.xpath("//interface[alias/@name='ua-nic2']")[0]
        assert nonet.find("source").get("network") == "plugboard-nonet"
        assert nonet.find("link").get("state") == "down"
        assert nics["nic2"]["linked"] is True  # its wish, for when it gets a network
        assert live.xpath("//interface[alias/@name='ua-nic3']") == []

        def lease(mac):
            return lambda: net.lease_for(mac)

        wait = Guest(testhost, dom).wait_for
        wait("nic1's lease", lease(nics["nic1"]["mac"]), timeout=60)
        given = svc.patch(
            f"{VM}/{name}/nics/nic2", json={"source": {"type": "network", "network": net.name}}
        )
        assert given.status_code == 200, given.text
        assert [a["kind"] for a in given.json()["plan"]] == ["live-update"]
        assert given.json()["vnic"]["active"] is True
        wait("nic2's lease once it has a network", lease(nics["nic2"]["mac"]), timeout=60)
        meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, 0)
        assert "nic2" not in meta and "nic3" in meta  # only the unplugged one is kept there

        assert_problem(svc.post(f"{VM}/{name}/start"), 409, "VM_STATE_CONFLICT")
        assert_problem(svc.delete(f"{VM}/{name}"), 409, "VM_STATE_CONFLICT")
        assert svc.post(f"{VM}/{name}/shutdown").status_code == 200
        wait("ACPI power-off", lambda: not dom.isActive(), timeout=60)
        assert svc.get(f"{VM}/{name}").json()["state"] == "shut-off"
        assert svc.delete(f"{VM}/{name}").status_code == 204
        assert_problem(svc.get(f"{VM}/{name}"), 404, "VM_NOT_FOUND")
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom = testhost.conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()


def test_vm_create_refuses_bad_input_and_creates_nothing(svc, testhost, two_networks):
    before = sorted(d.name() for d in testhost.conn.listAllDomains())
    boot = {"kernel": "/nonexistent/vmlinuz"}
    nope = {"source": {"type": "network", "network": "nope"}}
    cases = [
        ({"name": "pbtest-x", "boot": {}}, 422, "VALIDATION_ERROR"),
        ({"name": "pbtest-x", "boot": boot, "nics": [nope]}, 422, "NETWORK_NOT_FOUND"),
        ({"name": "pbtest-x", "boot": boot, "nics": [{"mac": "ff:ff:ff:ff:ff:ff"}]}, 422,
         "MAC_ADDRESS_INVALID"),
        ({"name": "pbtest-x", "boot": boot, "nics": [{"name": "a"}, {"name": "a"}]}, 422,
         "VALIDATION_ERROR"),
        ({"name": "bad name", "boot": boot}, 422, "VALIDATION_ERROR"),
    ]  # fmt: skip
    for body, status, code in cases:
        assert_problem(svc.post(VM, json=body), status, code)
    # the kernel does not exist: libvirt defines it, cannot start it -> undefined again
    assert_problem(
        svc.post(f"{VM}?start=true", json={"name": "pbtest-x", "boot": boot}),
        422,
        "FILE_NOT_FOUND",
    )
    assert sorted(d.name() for d in testhost.conn.listAllDomains()) == before


# --- the CLI -------------------------------------------------------------------------------
def test_cli_nic_commands(services, testhost, guests, two_networks):
    served = services.serve()
    assert served.post("/hosts", json={"name": "th", "uri": testhost.uri}).status_code == 201
    net_a, net_b = two_networks
    guest = guests.boot(net_a.name, persistent=True)

    listed = served.cli("nic-list", guest.name, "--host", "th", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    [nic] = json.loads(listed.stdout)
    assert nic["name"] == "nic1" and nic["source"]["network"] == net_a.name

    dry = served.cli(
        "nic-set", guest.name, "nic1", "--host", "th", "--network", net_b.name, "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert "live-update" in dry.stdout and "nothing changed" in dry.stdout
    assert guest.interface_xml("ua-nic1").find("source").get("network") == net_a.name

    moved = served.cli("nic-set", guest.name, "nic1", "--host", "th", "--network", net_b.name)
    assert moved.returncode == 0, moved.stderr
    assert guest.interface_xml("ua-nic1").find("source").get("network") == net_b.name

    refused = served.cli("nic-remove", guest.name, "nic1", "--host", "th")
    assert refused.returncode == 1 and "CANNOT_REMOVE_ACTIVE_DEVICE" in refused.stderr
    assert served.cli("nic-set", guest.name, "nic1", "--host", "th", "--unplug").returncode == 0
    assert served.cli("nic-remove", guest.name, "nic1", "--host", "th").returncode == 0
    assert guest.macs() == []

    added = served.cli(
        "nic-add", guest.name, "--host", "th", "--network", net_a.name, "--unlinked", "-o", "json"
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["vnic"]["linked"] is False
    vms = json.loads(served.cli("vm-list", "--host", "th", "-o", "json").stdout)
    assert guest.name in [v["name"] for v in vms]
    table = served.cli("nic-list", guest.name, "--host", "th")
    assert f"network {net_a.name}" in table.stdout


def test_a_guest_that_does_not_release_the_card_gets_hotunplug_timeout(
    services, testhost, guests, two_networks
):
    svc = services.make(hotunplug_timeout=1.0)
    assert svc.post("/hosts", json={"name": "th", "uri": testhost.uri}).status_code == 201
    guest = guests.boot(two_networks[0].name, persistent=True)
    persistent = xml_snapshot(guest.dom)[1]
    guest.dom.suspend()  # a paused guest cannot acknowledge the unplug
    response = patch(svc, guest, {"plugged": False})
    assert_problem(response, 504, "HOTUNPLUG_TIMEOUT")
    assert response.json()["vnic"]["plugged"] is True  # its real state: still in the VM
    assert xml_snapshot(guest.dom)[1] == persistent
    assert svc.get(nic_path(guest)).json()["plugged"] is True


def test_a_network_with_an_unplugged_vnic_on_it_is_in_use(svc, guest, two_networks):
    net = two_networks[0]
    assert patch(svc, guest, {"plugged": False}).status_code == 200
    assert guest.macs() == []  # the VM has no card on it any more, only plugboard's record
    refused = svc.delete(f"/hosts/th/networks/{net.name}")
    assert_problem(refused, 409, "NETWORK_IN_USE")
    assert refused.json()["vms"] == [guest.name]
    assert net.net.isActive()


# --- the audit log ------------------------------------------------------------------------
def requests_logged(svc, guest: Guest) -> list[dict]:
    """The audit lines of the requests made to the guest's vNICs, oldest first (without
    plugboard's own lines of the operations they ran)."""
    page = svc.get("/events", params={"target": f"hosts/th/vms/{guest.name}", "limit": 100})
    return [e for e in reversed(page.json()["items"]) if e["actor"] != "plugboard"]


def last_line(svc, guest: Guest) -> dict:
    return requests_logged(svc, guest)[-1]


def changed(svc, guest: Guest, body: dict, nic: str = "nic1") -> dict:
    """PATCH the vNIC; its audit line."""
    response = patch(svc, guest, body, nic=nic)
    assert response.status_code == 200, response.text
    return last_line(svc, guest)


def test_each_kind_of_change_of_a_running_guests_vnic_is_logged_in_words(svc, guest, two_networks):
    a, b = (net.name for net in two_networks)
    mac = svc.get(nic_path(guest)).json()["mac"]
    new_mac = "56:6f:70:aa:00:21"
    live, replug = "(live update, slot kept)", "(unplug + plug, slot kept)"
    expected = [
        ({"linked": False}, f"nic1 link down {live}"),
        ({"linked": True}, f"nic1 link up {live}"),
        ({"source": {"type": "network", "network": b}}, f"nic1 re-wired {a} → {b} {live}"),
        ({"mac": new_mac}, f"nic1 MAC {mac} → {new_mac} {replug}"),
        ({"model": "e1000"}, f"nic1 model virtio → e1000 {replug}"),
        ({"plugged": False}, "nic1 unplugged (hot-unplug)"),
        ({"plugged": True}, "nic1 plugged (hot-plug)"),
        ({"plugged": True}, "nic1 is already as asked: nothing to do"),
    ]
    for body, words in expected:
        line = changed(svc, guest, body)
        assert (line["detail"], line["result"], line["actor"]) == (words, "ok", "admin"), body
        assert line["action"] == "PATCH /hosts/{host}/vms/{vm}/nics/{nic}"
        assert line["data"]["asked"] == body
        assert line["duration_ms"] == round(line["duration_ms"], 1)

    line = requests_logged(svc, guest)[2]  # the re-wire, as data
    assert [(a["kind"], a["keeps_pci_address"]) for a in line["data"]["plan"]] == [
        ("live-update", True)
    ]
    assert line["data"]["before"]["source"]["network"] == a
    assert line["data"]["after"]["source"]["network"] == b
    assert (line["data"]["outcome"], line["data"]["dry_run"]) == ("applied", False)


def test_a_stopped_vms_change_is_logged_as_its_definition_only(svc, guest, two_networks):
    # QoS here: a live one needs the host kernel's sfq qdisc, which these test hosts lack.
    guest.dom.destroy()
    line = changed(svc, guest, {"bandwidth": {"inbound": {"average": 1000}}})
    assert line["detail"] == "nic1 QoS none → inbound.average=1000 (definition only)"
    assert [action["kind"] for action in line["data"]["plan"]] == ["config-only"]
    assert line["data"]["after"]["bandwidth"] == [["inbound.average", 1000]]


def test_a_dry_run_is_logged_as_one(svc, guest, two_networks):
    a, b = (net.name for net in two_networks)
    body = {"source": {"type": "network", "network": b}}
    response = svc.patch(nic_path(guest) + "?dry_run=true", json=body)
    assert response.status_code == 200, response.text
    line = last_line(svc, guest)
    assert line["result"] == "dry-run"
    said = f"dry run, nothing changed: nic1 re-wire {a} → {b} (live update, slot kept)"
    assert line["detail"] == said
    assert (line["data"]["dry_run"], line["data"]["outcome"]) == (True, "dry run")
    assert line["data"]["after"] is None
    assert svc.get(nic_path(guest)).json()["source"]["network"] == a


def test_add_and_remove_are_logged_with_the_vnic(svc, guest, two_networks):
    a = two_networks[0].name
    body = {"name": "nic2", "plugged": False, "source": {"type": "network", "network": a}}
    added = svc.post(f"{VM}/{guest.name}/nics", json=body)
    assert added.status_code == 201, added.text
    mac = added.json()["vnic"]["mac"]
    line = last_line(svc, guest)
    assert line["target"] == f"hosts/th/vms/{guest.name}/nics/nic2"
    assert line["detail"] == f"nic2 added on {a}, MAC {mac}, virtio, unplugged (definition only)"
    assert (line["data"]["operation"], line["data"]["after"]["mac"]) == ("add", mac)

    assert svc.delete(nic_path(guest, "nic2")).status_code == 204
    line = last_line(svc, guest)
    assert line["detail"] == (
        f"nic2 removed (was on {a}, MAC {mac}, virtio, unplugged) (definition only)"
    )
    assert (line["data"]["operation"], line["data"]["before"]["mac"]) == ("remove", mac)

    assert_problem(svc.delete(nic_path(guest)), 409, "CANNOT_REMOVE_ACTIVE_DEVICE")
    line = last_line(svc, guest)
    assert line["detail"].startswith("nic1 remove refused: vNIC nic1 is plugged")
    assert line["detail"].endswith("; nothing changed")
    assert (line["data"]["outcome"], line["result"]) == ("refused", "CANNOT_REMOVE_ACTIVE_DEVICE")


def test_a_failed_change_says_what_failed_and_that_it_was_rolled_back(
    svc, guest, two_networks, networks: NetworkFactory, testhost: TestHost
):
    a = two_networks[0].name
    # A running network whose bridge was deleted behind libvirt's back: nothing to check
    # beforehand says no; libvirt's live update fails.
    broken = networks.create()
    testhost.run("ip", "link", "del", broken.bridge)
    body = {"source": {"type": "network", "network": broken.name}}
    failed = patch(svc, guest, body)
    assert_problem(failed, 409, "UPDATE_VNIC_FAILED")

    line = last_line(svc, guest)
    assert (line["status"], line["result"]) == (409, "UPDATE_VNIC_FAILED")
    said = f"nic1 re-wire {a} → {broken.name} (live update, slot kept) failed: "
    assert line["detail"].startswith(said), line["detail"]
    assert failed.json()["detail"] in line["detail"]
    assert line["detail"].endswith("; rolled back, the vNIC is as it was")
    data = line["data"]
    assert data["outcome"] == "rolled back"
    error = {"code": "UPDATE_VNIC_FAILED", "detail": failed.json()["detail"]}
    assert data["error"] == error | {"rollback_errors": []}
    assert [action["kind"] for action in data["plan"]] == ["live-update"]
    assert (data["before"]["source"]["network"], data["desired"]["source"]["network"]) == (
        a,
        broken.name,
    )
    assert data["after"] is None
    assert svc.get(nic_path(guest)).json()["source"]["network"] == a
