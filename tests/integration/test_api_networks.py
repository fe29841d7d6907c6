"""Virtual networks through the API and CLI, on a real test host with booted guests."""

import itertools
import json
import time

import libvirt
import pytest

from plugboard.netxml import format_network, parse_network
from tests.harness import GuestFactory, NicSpec, TestHost
from tests.unit.test_api_auth import assert_problem

XML_TYPE = "application/xml"
XML = {"Content-Type": XML_TYPE}
_serial = itertools.count(1)


@pytest.fixture
def svc(services, testhost: TestHost):
    service = services.make()
    assert (
        service.post(
            "/hosts", json={"name": "th", "uri": testhost.uri, "domain_type": "qemu"}
        ).status_code
        == 201
    )
    return service


def libvirt_networks(host: TestHost) -> dict[str, str]:
    """Every network on the host with its XML: to check that a refusal changed nothing."""
    return {n.name(): n.XMLDesc(0) for n in host.conn.listAllNetworks()}


def uniq(prefix: str) -> tuple[str, int]:
    n = next(_serial)
    return f"pbtest-{prefix}{n}", n


KINDS = {
    "nat": "<forward mode='nat'/><ip address='10.61.{n}.1' prefix='24'><dhcp>"
    "<range start='10.61.{n}.100' end='10.61.{n}.200'/></dhcp></ip>",
    "route": "<forward mode='route'/><ip address='10.62.{n}.1' prefix='24'/>",
    "open": "<forward mode='open'/><ip address='10.63.{n}.1' prefix='24'/>",
    "isolated-v4-v6": "<ip address='10.64.{n}.1' prefix='24'/>"
    "<ip family='ipv6' address='fd64:{n}::1' prefix='64'/>",
    "bridge-mode": "<forward mode='bridge'/><bridge name='pbhost{n}'/>",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_network_lifecycle_reads_back_as_libvirt_writes_it(kind, svc, testhost, cleanup_networks):
    name, n = uniq(kind[:3])
    cleanup_networks.append(name)
    if kind == "bridge-mode":  # a host bridge the network hands vNICs to
        testhost.run("ip", "link", "add", f"pbhost{n}", "type", "bridge")
    own_bridge = "" if kind == "bridge-mode" else f"<bridge name='pbn{n}' stp='off'/>"
    xml = f"<network><name>{name}</name>{own_bridge}{KINDS[kind].format(n=n)}</network>"
    try:
        created = svc.client.post(
            "/api/v1/hosts/th/networks?start=true&autostart=true",
            content=xml,
            headers=svc.auth | XML,
        )
        assert created.status_code == 201, created.text
        assert (created.json()["active"], created.json()["autostart"]) == (True, True)

        theirs = testhost.conn.networkLookupByName(name).XMLDesc(0)
        ours = svc.get(f"/hosts/th/networks/{name}", headers={"Accept": "application/xml"})
        assert ours.headers["content-type"].startswith("application/xml")
        assert ours.text == theirs
        as_json = svc.get(f"/hosts/th/networks/{name}").json()
        assert as_json["forward_mode"] == (
            "isolated" if kind.startswith("iso") else kind.removesuffix("-mode")
        )

        listed = {n["name"]: n for n in svc.get("/hosts/th/networks").json()}
        assert listed[name]["active"] is True

        stopped = svc.post(f"/hosts/th/networks/{name}/stop").json()
        assert stopped["active"] is False
        assert not testhost.conn.networkLookupByName(name).isActive()
        assert svc.delete(f"/hosts/th/networks/{name}").status_code == 204
        assert name not in libvirt_networks(testhost)
    finally:
        if kind == "bridge-mode":
            testhost.run("ip", "link", "del", f"pbhost{n}", check=False)


def test_json_definitions_are_accepted_and_redefine_waits_for_a_restart(
    svc, testhost, cleanup_networks
):
    name, n = uniq("json")
    cleanup_networks.append(name)
    doc = {
        "name": name,
        "bridge": {"name": f"pbj{n}"},
        "ips": [{"address": f"10.65.{n}.1", "prefix": 24}],
    }
    assert svc.post("/hosts/th/networks?start=true", json=doc).status_code == 201
    doc["ips"][0]["dhcp"] = {"ranges": [{"start": f"10.65.{n}.10", "end": f"10.65.{n}.20"}]}

    later = svc.client.put(f"/api/v1/hosts/th/networks/{name}", json=doc, headers=svc.auth)
    assert later.json()["applied"] == "next-start"
    assert "dhcp" not in svc.get(f"/hosts/th/networks/{name}").json()["definition"]["ips"][0]

    now = svc.client.put(
        f"/api/v1/hosts/th/networks/{name}?restart=true", json=doc, headers=svc.auth
    ).json()
    assert now["applied"] == "now"
    assert now["definition"]["ips"][0]["dhcp"]["ranges"] == doc["ips"][0]["dhcp"]["ranges"]


def test_put_keeps_the_bridge_mac_and_if_match_stops_a_lost_update(svc, testhost, cleanup_networks):
    name, n = uniq("etag")
    cleanup_networks.append(name)
    doc = {
        "name": name,
        "bridge": {"name": f"pbe{n}"},
        "ips": [{"address": f"10.66.{n}.1", "prefix": 24}],
    }
    assert svc.post("/hosts/th/networks", json=doc).status_code == 201
    mac = parse_network(testhost.conn.networkLookupByName(name).XMLDesc(0)).mac.address
    read = svc.get(f"/hosts/th/networks/{name}")
    etag = read.headers["ETag"]
    assert read.json()["etag"] == etag and etag.startswith('"')
    # the XML form, as net-edit reads it, has the same ETag
    as_xml = svc.get(f"/hosts/th/networks/{name}?inactive=true", headers={"Accept": XML_TYPE})
    assert as_xml.headers["ETag"] == etag

    # Two administrators read it; the first one's PUT (without <mac>) wins ...
    first = dict(doc, ips=[{"address": f"10.66.{n}.1", "prefix": 25}])
    put = svc.request("PUT", f"/hosts/th/networks/{name}", json=first, headers={"If-Match": etag})
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] not in (etag, None)
    after = parse_network(testhost.conn.networkLookupByName(name).XMLDesc(0))
    assert after.mac.address == mac  # kept, as virsh net-edit keeps it
    # ... and the second one's, made from what it read before, is refused, as is a PATCH
    second = dict(doc, ips=[{"address": f"10.66.{n}.1", "prefix": 26}])
    stale = svc.request(
        "PUT", f"/hosts/th/networks/{name}", json=second, headers={"If-Match": etag}
    )
    problem = assert_problem(stale, 412, "PRECONDITION_FAILED")
    assert problem["etag"] == put.headers["ETag"]
    assert f"network {name} changed since you read it" in problem["detail"]
    patch = svc.patch(
        f"/hosts/th/networks/{name}", json={"autostart": True}, headers={"If-Match": etag}
    )
    assert_problem(patch, 412, "PRECONDITION_FAILED")
    assert parse_network(testhost.conn.networkLookupByName(name).XMLDesc(0)).ips[0].prefix == 25
    assert testhost.conn.networkLookupByName(name).autostart() == 0
    # with the fresh ETag, it goes through
    fresh = svc.patch(
        f"/hosts/th/networks/{name}",
        json={"autostart": True},
        headers={"If-Match": put.headers["ETag"]},
    )
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["ETag"] != put.headers["ETag"]


def test_bad_input_is_refused_and_leaves_the_host_unchanged(svc, services, testhost):
    before = libvirt_networks(testhost)
    post = "/api/v1/hosts/th/networks"
    cases = [
        ("<network><name>x</name>", 422, "VALIDATION_ERROR", "not well-formed"),
        (
            "<network><name>x</name><forward mode='warp'/></network>",
            422,
            "VALIDATION_ERROR",
            "/network/forward[1]/@mode",
        ),
        (
            "<network><name>x</name><ip address='10.66.0.1' prefix='24'><dhcp>"
            "<range start='10.66.1.2' end='10.66.1.9'/></dhcp></ip></network>",
            422,
            "VALIDATION_ERROR",
            "/network/ip[1]/dhcp/range[1]/@start",
        ),
    ]
    for xml, status, code, words in cases:
        body = assert_problem(
            svc.client.post(post, content=xml, headers=svc.auth | XML), status, code
        )
        assert words in body["detail"]
    assert_problem(svc.post("/hosts/th/networks", content=b"{"), 400, "BAD_REQUEST")
    assert_problem(svc.get("/hosts/nowhere/networks"), 404, "HOST_NOT_FOUND")
    assert_problem(svc.get("/hosts/th/networks/nothing"), 404, "NETWORK_NOT_FOUND")

    name, n = uniq("upd")
    xml = (
        f"<network><name>{name}</name><bridge name='pbu{n}'/><ip address='10.67.{n}.1' "
        f"prefix='24'><dhcp><range start='10.67.{n}.10' end='10.67.{n}.20'/></dhcp></ip>"
        "</network>"
    )
    assert svc.client.post(post, content=xml, headers=svc.auth | XML).status_code == 201
    try:
        with_network = libvirt_networks(testhost)
        missing = svc.post(
            f"/hosts/th/networks/{name}/updates",
            json={
                "command": "delete",
                "section": "ip-dhcp-host",
                "xml": "<host mac='52:54:00:00:00:99' ip='10.67.0.99'/>",
            },
        )
        assert_problem(missing, 422, "VALIDATION_ERROR")
        assert_problem(
            svc.client.post(post, content=xml, headers=svc.auth | XML), 409, "NETWORK_EXISTS"
        )
        assert libvirt_networks(testhost) == with_network
    finally:
        svc.delete(f"/hosts/th/networks/{name}")

    dead = services.make()
    dead.post(
        "/hosts",
        json={
            "name": "gone",
            "uri": "qemu:///system?socket=/run/plugboard-testhost/none/libvirt-sock",
        },
    )
    assert_problem(dead.get("/hosts/gone/networks"), 502, "HOST_UNREACHABLE")
    assert libvirt_networks(testhost) == before


def test_a_guest_lease_is_reported_with_its_vm_and_vnic(svc, testhost, networks, cleanup_networks):
    name, n = uniq("lease")
    cleanup_networks.append(name)
    xml = (
        f"<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
        f"<name>{name}</name><forward mode='nat'/><bridge name='pbl{n}' stp='off'/>"
        f"<ip address='10.68.{n}.1' prefix='24'><dhcp><range start='10.68.{n}.100' "
        f"end='10.68.{n}.200'/></dhcp></ip><dnsmasq:options>"
        "<dnsmasq:option value='no-ping'/></dnsmasq:options></network>"
    )
    assert (
        svc.client.post(
            "/api/v1/hosts/th/networks?start=true", content=xml, headers=svc.auth | XML
        ).status_code
        == 201
    )
    guests = GuestFactory(testhost)
    try:
        mac = "52:54:00:68:00:01"
        guest = guests.boot(nics=[NicSpec(name, "ua-nic1", mac=mac)])
        address = guest.wait_for_address(mac, parse_subnet(f"10.68.{n}.0/24"))
        leases = guest.wait_for(
            "the lease in the API",
            lambda: [
                lease
                for lease in svc.get(f"/hosts/th/networks/{name}/leases").json()
                if lease["mac"] == mac
            ],
        )
        assert leases[0]["ip"] == str(address.ip)
        assert (leases[0]["vm"], leases[0]["vnic"]) == (guest.name, "nic1")
        assert leases[0]["hostname"] == guest.name

        # A reservation made while the network runs: the guest gets it when it asks again.
        reserved = f"10.68.{n}.50"
        updated = svc.post(
            f"/hosts/th/networks/{name}/updates",
            json={
                "command": "add-last",
                "section": "ip-dhcp-host",
                "xml": f"<host mac='{mac}' ip='{reserved}'/>",
            },
        )
        assert updated.status_code == 200, updated.text
        assert testhost.conn.networkLookupByName(name).XMLDesc(0).count(reserved) == 1
        # libvirt's own count starts again at 0 on a net-update; the guest's card is still on
        assert "connections=" not in testhost.conn.networkLookupByName(name).XMLDesc(0)
        assert updated.json()["connections"] == 1
        assert _connections(svc, name) == 1
        guest.check("kill -USR2 $(pidof udhcpc); sleep 0.2; kill -USR1 $(pidof udhcpc)")
        guest.wait_for(
            f"the reserved address {reserved}",
            lambda: any(str(a.ip) == reserved for a in guest.nic_by_mac(mac).addresses),
            timeout=20,
        )

        # The card moves to another network: its lease here stays until it expires, and says
        # where the vNIC is now.
        other = networks.create()
        moved = svc.patch(
            f"/hosts/th/vms/{guest.name}/nics/nic1",
            json={"source": {"type": "network", "network": other.name}},
        )
        assert moved.status_code == 200, moved.text
        (left,) = [
            x for x in svc.get(f"/hosts/th/networks/{name}/leases").json() if x["mac"] == mac
        ]
        assert (left["vm"], left["vnic"]) == (guest.name, "nic1")
        assert left["vnic_now_on"] == f"network {other.name}"
        assert (_connections(svc, name), _connections(svc, other.name)) == (0, 1)
        guest.wait_for_address(mac, other.subnet)
        (here,) = [x for x in svc.get(f"/hosts/th/networks/{other.name}/leases").json()
                   if x["mac"] == mac]  # fmt: skip
        assert (here["vm"], here["vnic"], here["vnic_now_on"]) == (guest.name, "nic1", None)
        svc.patch(
            f"/hosts/th/vms/{guest.name}/nics/nic1",
            json={"source": {"type": "network", "network": name}},
        )

        # In use: deleting needs force, and says who uses it.
        refused = assert_problem(svc.delete(f"/hosts/th/networks/{name}"), 409, "NETWORK_IN_USE")
        assert refused["vms"] == [guest.name]
        assert name in libvirt_networks(testhost)
        assert svc.delete(f"/hosts/th/networks/{name}", params={"force": True}).status_code == 204
        assert name not in libvirt_networks(testhost)
    finally:
        guests.cleanup()


def _connections(svc, name: str) -> int:
    (listed,) = [n for n in svc.get("/hosts/th/networks").json() if n["name"] == name]
    return listed["connections"]


def parse_subnet(text: str):
    import ipaddress  # noqa: PLC0415

    return ipaddress.ip_network(text)


def _veths(host: TestHost, names: list[str]) -> None:
    for dev in names:
        host.run("ip", "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p")
        host.run("ip", "link", "set", dev, "up")
        host.run("ip", "link", "set", f"{dev}p", "up")


@pytest.mark.parametrize("mode", ["bridge", "passthrough"])
def test_macvtap_pools_spread_guests_and_passthrough_is_exclusive(
    mode, svc, testhost, cleanup_networks
):
    name, n = uniq(mode[:4])
    cleanup_networks.append(name)
    devs = [f"pbp{n}a", f"pbp{n}b"]
    _veths(testhost, devs)
    pool = "".join(f"<interface dev='{d}'/>" for d in devs)
    xml = f"<network><name>{name}</name><forward mode='{mode}'>{pool}</forward></network>"
    assert (
        svc.client.post(
            "/api/v1/hosts/th/networks?start=true", content=xml, headers=svc.auth | XML
        ).status_code
        == 201
    )
    guests = GuestFactory(testhost)
    try:
        for _ in range(2):
            guests.boot(name, wait=False)
        pool_state = svc.get(f"/hosts/th/networks/{name}").json()["pool"]
        assert pool_state == [
            {"dev": devs[0], "connections": 1},
            {"dev": devs[1], "connections": 1},
        ]
        if mode == "passthrough":
            with pytest.raises(
                libvirt.libvirtError,
                match="requires exclusive access to interfaces, but none are available",
            ):
                guests.boot(name, wait=False)
        else:
            guests.boot(name, wait=False)
            counts = [
                p["connections"] for p in svc.get(f"/hosts/th/networks/{name}").json()["pool"]
            ]
            assert sorted(counts) == [1, 2]
    finally:
        guests.cleanup()
        for dev in devs:
            testhost.run("ip", "link", "del", dev, check=False)


def test_changes_made_behind_plugboards_back_show_up_at_once(svc, testhost):
    assert svc.get("/hosts/th").json()["state"] == "connected"  # events flow from now on
    name, n = uniq("virsh")
    testhost.conn.networkDefineXML(f"<network><name>{name}</name><bridge name='pbv{n}'/></network>")
    try:
        assert name in {n["name"] for n in svc.get("/hosts/th/networks").json()}
        testhost.conn.networkLookupByName(name).create()
        assert svc.get(f"/hosts/th/networks/{name}").json()["active"] is True
    finally:
        net = testhost.conn.networkLookupByName(name)
        net.destroy()
        net.undefine()
    assert name not in {n["name"] for n in svc.get("/hosts/th/networks").json()}

    # libvirt's lifecycle events put them in the log, by "libvirt".
    def logged():
        page = svc.get("/events", params={"target": f"hosts/th/networks/{name}"}).json()
        return [(e["actor"], e["action"]) for e in reversed(page["items"])]

    deadline = time.monotonic() + 10
    while len(logged()) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged() == [
        ("libvirt", "network defined"),
        ("libvirt", "network started"),
        ("libvirt", "network stopped"),
        ("libvirt", "network undefined"),
    ]


def test_net_cli_commands(services, testhost, cleanup_networks, tmp_path, monkeypatch):
    served = services.serve()
    plugboard = served.cli
    assert plugboard("host-add", "th", testhost.uri).returncode == 0
    name, n = uniq("cli")
    cleanup_networks.append(name)
    definition = tmp_path / "net.xml"
    definition.write_text(
        f"<network><name>{name}</name><bridge name='pbc{n}'/>"
        f"<ip address='10.69.{n}.1' prefix='24'><dhcp><range "
        f"start='10.69.{n}.10' end='10.69.{n}.20'/></dhcp></ip></network>"
    )
    defined = plugboard("net-define", str(definition), "--host", "th", "--start")
    assert defined.returncode == 0, defined.stderr
    listed = json.loads(plugboard("net-list", "--host", "th", "-o", "json").stdout)
    assert {"name": name, "active": True}.items() <= next(
        x for x in listed if x["name"] == name
    ).items()
    dumped = plugboard("net-dumpxml", name, "--host", "th").stdout
    assert dumped == testhost.conn.networkLookupByName(name).XMLDesc(0)
    assert format_network(parse_network(dumped)) == dumped
    updated = plugboard(
        "net-update",
        name,
        "add-last",
        "ip-dhcp-host",
        f"<host mac='52:54:00:69:00:01' ip='10.69.{n}.5'/>",
        "--host",
        "th",
    )
    assert updated.returncode == 0, updated.stderr
    assert f"10.69.{n}.5" in plugboard("net-dumpxml", name, "--host", "th").stdout
    _net_edit(plugboard, testhost, name, n, tmp_path, monkeypatch)
    assert plugboard("net-autostart", name, "--host", "th").returncode == 0
    assert testhost.conn.networkLookupByName(name).autostart() == 1
    assert plugboard("net-autostart", name, "--host", "th", "--disable").returncode == 0
    assert plugboard("net-leases", name, "--host", "th").returncode == 0
    assert plugboard("net-stop", name, "--host", "th").returncode == 0
    bad = plugboard("net-start", "nothing", "--host", "th")
    assert bad.returncode == 1 and "no network 'nothing'" in bad.stderr
    assert plugboard("net-undefine", name, "--host", "th").returncode == 0
    assert name not in libvirt_networks(testhost)


def _net_edit(plugboard, testhost, name, n, tmp_path, monkeypatch) -> None:
    """net-edit with $EDITOR a script; net-define --replace with a stale ETag is refused."""
    old_etag = json.loads(plugboard("net-autostart", name, "--host", "th", "--disable",
                                    "-o", "json").stdout)["etag"]  # fmt: skip
    editor = tmp_path / "editor"
    editor.write_text(f"#!/bin/sh\nsed -i \"s/end='10.69.{n}.20'/end='10.69.{n}.30'/\" \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    edited = plugboard("net-edit", name, "--host", "th", "-o", "json")
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["etag"] != old_etag
    net = testhost.conn.networkLookupByName(name)
    persistent = net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
    assert f"end='10.69.{n}.30'" in persistent
    assert "<mac address=" in persistent and "<uuid>" in persistent
    # nothing to change: nothing changes
    monkeypatch.setenv("EDITOR", "true")
    same = plugboard("net-edit", name, "--host", "th")
    assert (same.returncode, same.stdout) == (0, f"network {name} XML not changed\n")
    # a file made from what was read before the edit: refused, and the edit stays
    stale = tmp_path / "stale.xml"
    stale.write_text(persistent.replace(f"end='10.69.{n}.30'", f"end='10.69.{n}.40'"))
    refused = plugboard("net-define", str(stale), "--replace", "--host", "th",
                        "--if-match", old_etag.strip('"'))  # fmt: skip
    assert refused.returncode == 1
    assert f"network {name} changed since you read it" in refused.stderr
    assert net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE) == persistent
    replaced = plugboard("net-define", str(stale), "--replace", "--host", "th")
    assert replaced.returncode == 0, replaced.stderr
    assert f"end='10.69.{n}.40'" in net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
    taken = plugboard("net-define", str(stale), "--host", "th")
    assert taken.returncode == 1 and "net-define --replace" in taken.stderr
