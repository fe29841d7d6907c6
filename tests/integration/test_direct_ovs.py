"""Direct (macvtap) and Open vSwitch vNICs, host interfaces and templates, on a test host with
booted guests: Open vSwitch runs in the test host's namespaces with the userspace datapath."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import subprocess
import time
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from tests.harness import Guest, GuestFactory, NetworkFactory, TestHost
from tests.harness.guest import INITRD, KERNEL, NicSpec
from tests.unit.test_api_auth import assert_problem

VM = "/hosts/th/vms"
FAR = ipaddress.ip_network("10.93.0.0/24")
_serial = itertools.count(1)


def link_local(mac: str) -> str:
    """The guest kernel's IPv6 link-local address for a MAC (EUI-64)."""
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    words = [b[0] << 8 | b[1], b[2] << 8 | 0xFF, 0xFE << 8 | b[3], b[4] << 8 | b[5]]
    return "fe80::" + ":".join(f"{w:x}" for w in words)


def settle(guest: Guest, *devs: str) -> None:
    """Wait until the guest's link-local addresses on `devs` are usable: there (the guest's
    nicd brings a NIC up when it starts, which may be after the guest is ready) and not
    tentative (a fresh one is checked for duplicates first, for about a second)."""

    def usable(dev: str) -> bool:
        shown = guest.check(f"ip -6 addr show dev {dev}")
        return "scope link" in shown and "tentative" not in shown

    for dev in devs:
        guest.wait_for(f"{dev}'s link-local address", lambda dev=dev: usable(dev))


def reaches(src: Guest, dst_mac: str, dev: str = "eth0", within: float = 0.0) -> bool:
    """Whether `src` gets an answer from the guest with `dst_mac` (IPv6 link-local: no
    addresses to set up, nothing for the guests' DHCP clients to undo). A path that must work
    is tried until `within` seconds pass: Open vSwitch's userspace datapath sets up a new flow
    slowly under TCG, slower still on a busy machine."""
    ping = f"ping -c 2 -W 2 {link_local(dst_mac)}%{dev}"
    deadline = time.monotonic() + within
    while src.run(ping, timeout=20).status != 0:
        if time.monotonic() >= deadline:
            return False
    return True


def live_interface(dom: libvirt.virDomain, alias: str, flags: int = 0) -> etree._Element:
    root = etree.fromstring(dom.XMLDesc(flags).encode())
    return root.xpath(f"//interface[alias/@name='{alias}']")[0]


@pytest.fixture
def wire(testhost: TestHost, tmp_path: Path):
    """A veth whose near end is in the test host and whose far end is in a namespace of its
    own, where a dnsmasq hands out leases in 10.93.0.0/24: a wire to another machine."""
    n = next(_serial)
    near, far, ns = f"pbwire{n}", f"pbfar{n}", f"pbtest-far{n}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        testhost.run("ip", "link", "add", near, "type", "veth", "peer", "name", far, "netns", ns)
        testhost.run("ip", "link", "set", near, "up")
        for args in (["addr", "add", "10.93.0.1/24", "dev", far], ["link", "set", far, "up"]):
            subprocess.run(["ip", "-n", ns, *args], check=True)
        log = (tmp_path / "dnsmasq.log").open("w")
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             f"--interface={far}", "--bind-interfaces", "--port=0", "--user=root",
             "--dhcp-range=10.93.0.10,10.93.0.50,1h", "--no-ping", "--dhcp-authoritative",
             f"--dhcp-leasefile={tmp_path / 'leases'}", "--log-dhcp", "--log-facility=-"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield near
        finally:
            dnsmasq.terminate()
            dnsmasq.wait(timeout=10)
            log.close()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)  # takes the veth pair along


@pytest.fixture
def on_network(svc, guests: GuestFactory, networks: NetworkFactory):
    """A running, persistent guest with nic1 on a network: (network, guest, nic1's path,
    nic1 as the API shows it)."""
    net = networks.create()
    guest = guests.boot(net.name, persistent=True)
    path = f"{VM}/{guest.name}/nics/nic1"
    return net, guest, path, svc.get(path).json()


# --- macvtap -------------------------------------------------------------------------------
def test_macvtap_bridge_mode_gets_a_lease_across_the_wire_and_vepa_is_written(
    svc, on_network, wire
):
    net, guest, path, nic = on_network
    pci = nic["pci_address"]

    moved = svc.patch(path, json={"source": {"type": "macvtap", "dev": wire, "mode": "bridge"}})
    assert moved.status_code == 200, moved.text
    # a tap cannot become a macvtap live: out and back into the same slot
    assert [a["kind"] for a in moved.json()["plan"]] == ["unplug", "plug"]
    vnic = moved.json()["vnic"]
    assert vnic["source"] == {"type": "macvtap", "dev": wire, "mode": "bridge"}
    assert vnic["pci_address"] == pci
    assert vnic["target_dev"].startswith("macvtap")
    guest.wait_for_address(nic["mac"], FAR, timeout=60)  # the lease came from across the wire

    listing = svc.get("/hosts/th/interfaces", params={"type": "macvtap"}).json()
    assert listing["source"].startswith("netlink")
    (tap,) = [i for i in listing["interfaces"] if i["name"] == vnic["target_dev"]]
    assert (tap["type"], tap["parent"], tap["mode"]) == ("macvtap", wire, "bridge")
    assert tap["used_by"] == [{"kind": "vm", "name": guest.name}]
    assert tap["mac"] == nic["mac"]

    # `direct`, the old spelling, is still taken, with a note
    vepa = svc.patch(path, json={"source": {"type": "direct", "dev": wire, "mode": "vepa"}})
    assert vepa.status_code == 200, vepa.text
    assert [a["kind"] for a in vepa.json()["plan"]] == ["unplug", "plug"]
    assert vepa.json()["vnic"]["source"] == {"type": "macvtap", "dev": wire, "mode": "vepa"}
    assert any("deprecated" in note for note in vepa.json()["notes"])
    for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):  # running and persistent definitions
        iface = live_interface(guest.dom, "ua-nic1", flags)
        assert iface.get("type") == "direct"
        assert iface.find("source").attrib == {"dev": wire, "mode": "vepa"}
    target = live_interface(guest.dom, "ua-nic1").find("target").get("dev")
    listing = svc.get("/hosts/th/interfaces", params={"type": "macvtap"}).json()
    assert [(i["parent"], i["mode"]) for i in listing["interfaces"] if i["name"] == target] == [
        (wire, "vepa")
    ]
    assert guest.nic_by_mac(nic["mac"]).pci_address == pci

    back = svc.patch(path, json={"source": {"type": "network", "network": net.name}})
    assert back.status_code == 200, back.text
    guest.wait_for(f"a lease on {net.name}", lambda: net.lease_for(nic["mac"]), timeout=60)


# --- Open vSwitch --------------------------------------------------------------------------
def test_ovs_vlans_isolate_retag_live_and_a_trunk_carries_both(
    svc, testhost, guests: GuestFactory, ovs_bridge
):
    def boot(tag: int) -> Guest:
        nic = NicSpec(None, "ua-nic1", kind="ovs", bridge=ovs_bridge, vlan=tag)
        return guests.boot(nics=[nic], wait=False)

    a, b, c, d = boot(100), boot(100), boot(200), boot(100)
    for guest in (a, b, c, d):
        guest.wait_ready()
        settle(guest, "eth0")
    mac = {g: g.macs()[0] for g in (a, b, c, d)}
    nic_of = {g: svc.get(f"{VM}/{g.name}/nics/nic1").json() for g in (a, b, c, d)}
    assert nic_of[c]["source"] == {"type": "ovs", "bridge": ovs_bridge, "vlan": 200, "trunk": None}

    # ports as OVSDB has them, with no error (ovs-vsctl exits 0 even when OVS failed)
    listing = svc.get("/hosts/th/interfaces").json()
    assert listing["source"] == "netlink+ovsdb"
    by_name = {i["name"]: i for i in listing["interfaces"]}
    bridge = by_name[ovs_bridge]
    assert bridge["type"] == "ovs-bridge" and bridge["ovs"]["datapath_type"] == "netdev"
    assert sorted(bridge["ports"]) == sorted(n["target_dev"] for n in nic_of.values())
    port_c = by_name[nic_of[c]["target_dev"]]
    assert port_c["master"] == ovs_bridge
    assert (port_c["ovs"]["tag"], port_c["ovs"]["error"]) == (200, None)
    assert port_c["used_by"] == [{"kind": "vm", "name": c.name}]

    assert reaches(a, mac[b], within=60)
    assert not reaches(a, mac[c])

    # d becomes a trunk of both VLANs: it sees them tagged, on its own VLAN interfaces
    trunk = svc.patch(
        f"{VM}/{d.name}/nics/nic1",
        json={"source": {"type": "ovs", "bridge": ovs_bridge, "trunk": [100, 200]}},
    )
    assert trunk.status_code == 200, trunk.text
    assert [x["kind"] for x in trunk.json()["plan"]] == ["live-update"]
    assert trunk.json()["vnic"]["source"]["trunk"] == [100, 200]
    d.check("for v in 100 200; do ip link add link eth0 name eth0.$v type vlan id $v; "
            "ip link set eth0.$v up; done")  # fmt: skip
    settle(d, "eth0.100", "eth0.200")
    assert reaches(a, mac[d], within=60)  # VLAN 100, arrives on d's eth0.100
    assert reaches(c, mac[d], within=60)  # VLAN 200, arrives on d's eth0.200
    assert reaches(d, mac[a], "eth0.100", within=60) and reaches(d, mac[c], "eth0.200", within=60)
    assert not reaches(d, mac[c], "eth0.100")

    # re-tag c to 100 while it runs: one live update, the card stays, and a reaches it
    retag = svc.patch(
        f"{VM}/{c.name}/nics/nic1",
        json={"source": {"type": "ovs", "bridge": ovs_bridge, "vlan": 100}},
    )
    assert retag.status_code == 200, retag.text
    assert [x["kind"] for x in retag.json()["plan"]] == ["live-update"]
    assert retag.json()["vnic"]["pci_address"] == nic_of[c]["pci_address"]
    tag = testhost.vsctl("get", "port", nic_of[c]["target_dev"], "tag").strip()
    assert tag == "100"
    assert reaches(a, mac[c], within=60)


def test_a_running_vnic_on_an_open_vswitch_network_is_wired_to_the_network(
    svc, testhost, guests: GuestFactory, ovs_bridge
):
    """libvirt shows a running card on a network of forward mode bridge with its actual type
    (<interface type='bridge'>, the network still named in its source, the port group's
    VLAN as the card's): it is on the network, with no VLAN of its own, and a change of it
    stays on the network, on the port the network gave, with the port group's tag."""
    name = f"pbovsnet{next(_serial)}"
    net = testhost.conn.networkCreateXML(
        f"<network><name>{name}</name><forward mode='bridge'/><bridge name='{ovs_bridge}'/>"
        "<virtualport type='openvswitch'/>"
        "<portgroup name='eng'><vlan><tag id='100'/></vlan></portgroup></network>"
    )
    try:
        guest = guests.boot(nics=[NicSpec(name, "ua-nic1")])  # a hot-unplug needs its OS
        live = live_interface(guest.dom, "ua-nic1")
        assert live.get("type") == "bridge"  # libvirt's actual type, in the live XML
        nic = svc.get(f"{VM}/{guest.name}/nics/nic1").json()
        assert nic["source"] == {"type": "network", "network": name, "portgroup": None}
        tap = nic["target_dev"]

        moved = svc.patch(
            f"{VM}/{guest.name}/nics/nic1",
            json={"source": {"type": "network", "network": name, "portgroup": "eng"}},
        )
        assert moved.status_code == 200, moved.text
        # libvirt would move the live card to the group without its VLAN: unplug + plug
        assert [x["kind"] for x in moved.json()["plan"]] == ["unplug", "plug"]
        tap = moved.json()["vnic"]["target_dev"]
        assert moved.json()["vnic"]["pci_address"] == nic["pci_address"]
        assert testhost.vsctl("get", "port", tap, "tag").strip() == "100"
        down = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"linked": False})
        assert down.status_code == 200, down.text
        after = down.json()["vnic"]
        assert (after["source"]["network"], after["source"]["portgroup"]) == (name, "eng")
        assert (after["target_dev"], after["pci_address"]) == (tap, nic["pci_address"])
        assert live_interface(guest.dom, "ua-nic1").find("link").get("state") == "down"
        assert testhost.vsctl("get", "port", tap, "tag").strip() == "100"
    finally:
        guests.cleanup()
        net.destroy()


def test_rewire_between_ovs_a_linux_bridge_and_a_network_keeps_the_slot(
    svc, testhost, on_network, ovs_bridge
):
    net, guest, path, nic = on_network
    # libvirt moves a live tap between Linux bridges and networks, and an Open vSwitch port
    # between VLANs, but cannot put a live card on or off Open vSwitch: that is unplug + plug
    for source, kinds in (
        ({"type": "ovs", "bridge": ovs_bridge, "vlan": 7}, ["unplug", "plug"]),
        ({"type": "ovs", "bridge": ovs_bridge, "vlan": 8}, ["live-update"]),
        ({"type": "bridge", "bridge": net.bridge}, ["unplug", "plug"]),
        ({"type": "network", "network": net.name}, ["live-update"]),
    ):
        moved = svc.patch(path, json={"source": source})
        assert moved.status_code == 200, moved.text
        assert [a["kind"] for a in moved.json()["plan"]] == kinds
        assert moved.json()["vnic"]["pci_address"] == nic["pci_address"]
        assert guest.nic_by_mac(nic["mac"]).pci_address == nic["pci_address"]
        got = moved.json()["vnic"]["source"]
        assert {k: v for k, v in got.items() if v is not None} == source
    ports = testhost.vsctl("list-ports", ovs_bridge).split()
    assert ports == []  # the tap left the OVS bridge
    guest.wait_for(f"a lease on {net.name}", lambda: net.lease_for(nic["mac"]), timeout=60)


# --- templates -----------------------------------------------------------------------------
def test_vm_from_a_template_with_a_network_and_an_ovs_interface(
    svc, testhost, networks: NetworkFactory, ovs_bridge
):
    net = networks.create()
    template = {
        "name": "web",
        "memory_mib": 160,
        "boot": {"kernel": str(KERNEL), "initrd": str(INITRD), "cmdline": "console=ttyS0"},
        "networks": [net.name],
        "interfaces": [{"type": "ovs", "source": [ovs_bridge]}],
    }
    assert svc.post("/templates", json=template).status_code == 201
    name = f"pbtest-t{next(_serial)}"
    try:
        made = svc.post(f"{VM}?start=true", json={"name": name, "template": "web"})
        assert made.status_code == 201, made.text
        vm = made.json()
        assert vm["state"] == "running" and vm["memory_mib"] == 160
        nic1, nic2 = vm["nics"]
        assert nic1["source"] == {"type": "network", "network": net.name, "portgroup": None}
        assert nic2["source"]["type"] == "ovs" and nic2["source"]["bridge"] == ovs_bridge
        assert nic1["active"] and nic2["active"]
        ports = testhost.vsctl("list-ports", ovs_bridge).split()
        assert ports == [nic2["target_dev"]]
        assert testhost.vsctl("get", "interface", ports[0], "error").strip() == "[]"
        dom = testhost.conn.lookupByName(name)
        Guest(testhost, dom).wait_for(
            "nic1's lease", lambda: net.lease_for(nic1["mac"]), timeout=60
        )
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom = testhost.conn.lookupByName(name)
            dom.destroy()
            dom.undefine()


def test_bad_input_is_refused_and_creates_nothing(
    svc, testhost, guests: GuestFactory, networks: NetworkFactory, ovs_bridge, wire
):
    net = networks.create()
    guest = guests.boot(net.name, persistent=True)
    domains = sorted(d.name() for d in testhost.conn.listAllDomains())
    before = (guest.dom.XMLDesc(0), guest.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    boot = {"kernel": str(KERNEL), "initrd": str(INITRD)}
    nope_dev = {"type": "macvtap", "dev": "nope0", "mode": "bridge"}
    nope_ovs = {"type": "ovs", "bridge": "nope-br"}

    # a vNIC on a missing host interface or OVS bridge: on a new VM, a new vNIC, a re-wire
    refusals = ((nope_dev, "HOST_INTERFACE_NOT_FOUND"), (nope_ovs, "OVS_BRIDGE_NOT_FOUND"))
    for source, code in refusals:
        body = {"name": "pbtest-bad", "boot": boot, "nics": [{"source": source}]}
        assert_problem(svc.post(VM, json=body), 422, code)
        assert_problem(svc.post(f"{VM}/{guest.name}/nics", json={"source": source}), 422, code)
        patch = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"source": source})
        problem = assert_problem(patch, 422, code)
        assert "nope" in problem["detail"]
    # a Linux bridge source that is an OVS bridge, and OVS VLANs given twice
    wrong = svc.patch(
        f"{VM}/{guest.name}/nics/nic1", json={"source": {"type": "bridge", "bridge": ovs_bridge}}
    )
    assert "type ovs" in assert_problem(wrong, 422, "HOST_INTERFACE_NOT_FOUND")["detail"]
    both = {"type": "ovs", "bridge": ovs_bridge, "vlan": 1, "trunk": [2]}
    both_patch = svc.patch(f"{VM}/{guest.name}/nics/nic1", json={"source": both})
    assert_problem(both_patch, 422, "VALIDATION_ERROR")

    # templates: mode on an OVS interface; then VMs from templates that name what is missing
    ovs_mode = {"type": "ovs", "source": [ovs_bridge], "mode": "bridge"}
    assert_problem(
        svc.post("/templates", json={"name": "t-mode", "boot": boot, "interfaces": [ovs_mode]}),
        422,
        "VALIDATION_ERROR",
    )
    assert svc.get("/templates").json() == []
    missing = {
        "t-net": ({"networks": ["nope"]}, 422, "NETWORK_NOT_FOUND"),
        "t-dev": ({"interfaces": [{"type": "macvtap", "source": [wire, "nope0"]}]}, 422,
                  "HOST_INTERFACE_NOT_FOUND"),
        "t-ovs": ({"networks": [net.name], "interfaces": [{"type": "ovs", "source": ["nope"]}]},
                  422, "OVS_BRIDGE_NOT_FOUND"),
    }  # fmt: skip
    for name, (fields, status, code) in missing.items():
        made = svc.post("/templates", json={"name": name, "boot": boot, **fields})
        assert made.status_code == 201, made.text
        made = svc.post(f"{VM}?start=true", json={"name": "pbtest-bad", "template": name})
        assert_problem(made, status, code)
    unknown = svc.post(VM, json={"name": "pbtest-bad", "template": "nope"})
    assert_problem(unknown, 404, "TEMPLATE_NOT_FOUND")

    assert sorted(d.name() for d in testhost.conn.listAllDomains()) == domains
    assert (guest.dom.XMLDesc(0), guest.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before
    assert testhost.vsctl("list-ports", ovs_bridge).split() == []


# --- host interfaces -----------------------------------------------------------------------
def test_interface_listing_sources_filters_and_the_cli(
    served, testhost, networks, ovs_bridge, wire
):
    svc = served
    net = networks.create()
    testhost.run("ip", "link", "add", "link", wire, "name", "pbmvl0", "type", "macvlan",
                 "mode", "private")  # fmt: skip
    listing = svc.get("/hosts/th/interfaces").json()
    assert listing["host"] == "th" and listing["source"] == "netlink+ovsdb"
    assert listing["cannot_see"] == []
    by_name = {i["name"]: i for i in listing["interfaces"]}
    assert by_name["lo"]["type"] == "loopback" and "127.0.0.1/8" in by_name["lo"]["addresses"]
    assert by_name[wire]["type"] == "veth" and by_name[wire]["state"] in ("up", "lowerlayerdown")
    bridge = by_name[net.bridge]
    assert bridge["type"] == "bridge"
    assert {"kind": "network", "name": net.name} in bridge["used_by"]
    assert str(net.gateway) in " ".join(bridge["addresses"])
    assert by_name[ovs_bridge]["type"] == "ovs-bridge"
    macvlan = by_name["pbmvl0"]
    assert (macvlan["type"], macvlan["parent"], macvlan["mode"]) == ("macvlan", wire, "private")

    only = svc.get("/hosts/th/interfaces", params=[("type", "ovs-bridge"), ("type", "veth")])
    assert {i["type"] for i in only.json()["interfaces"]} == {"ovs-bridge", "veth"}
    bad_type = svc.get("/hosts/th/interfaces", params={"type": "nope"})
    assert_problem(bad_type, 422, "VALIDATION_ERROR")

    # what libvirt's own APIs report (the source for remote hosts), and what they cannot see
    via_libvirt = svc.get("/hosts/th/interfaces", params={"source": "libvirt"}).json()
    assert via_libvirt["source"] == "libvirt"
    assert any("Open vSwitch" in gap for gap in via_libvirt["cannot_see"])
    assert "lo" in {i["name"] for i in via_libvirt["interfaces"]}

    result = svc.cli("iface-list", "--host", "th", "--type", "ovs-bridge", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert [i["name"] for i in json.loads(result.stdout)["interfaces"]] == [ovs_bridge]
    table = svc.cli("iface-list", "--host", "th")
    assert table.returncode == 0 and "netlink+ovsdb" in table.stdout and wire in table.stdout


def test_cli_templates_and_a_vm_from_one(served, testhost, networks, ovs_bridge):
    svc = served
    net = networks.create()
    created = svc.cli(
        "template-create", "small", "--memory", "160", "--kernel", str(KERNEL), "--initrd",
        str(INITRD), "--network", net.name, "--ovs", ovs_bridge, "--output", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["interfaces"] == [
        {"type": "ovs", "source": [ovs_bridge], "mode": None}
    ]
    updated = svc.cli("template-update", "small", "--vcpus", "2", "--output", "json")
    assert updated.returncode == 0, updated.stderr
    shown = json.loads(updated.stdout)
    assert (shown["vcpus"], shown["memory_mib"], shown["networks"]) == (2, 160, [net.name])
    assert "small" in svc.cli("template-list").stdout
    bad = svc.cli("template-create", "x", "--kernel", "/k", "--ovs", "b", "--mode", "vepa")
    assert bad.returncode == 1 and "--mode goes with --macvtap" in bad.stderr

    name = f"pbtest-c{next(_serial)}"
    made = svc.cli("vm-create", name, "--host", "th", "--template", "small", "--output", "json")
    try:
        assert made.returncode == 0, made.stderr
        vm = json.loads(made.stdout)
        assert vm["vcpus"] == 2 and [n["source"]["type"] for n in vm["nics"]] == ["network", "ovs"]
        assert vm["state"] == "shut-off"
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            testhost.conn.lookupByName(name).undefine()
    assert svc.cli("template-delete", "small").returncode == 0
    gone = svc.cli("template-show", "small")
    assert gone.returncode == 1 and "no template named 'small'" in gone.stderr


def test_a_vlan_change_on_open_vswitch_is_logged(svc, guests, ovs_bridge):
    nic = NicSpec(None, "ua-nic1", kind="ovs", bridge=ovs_bridge, vlan=100)
    on_ovs = guests.boot(nics=[nic], persistent=True)
    source = {"type": "ovs", "bridge": ovs_bridge, "vlan": 200}
    response = svc.patch(f"{VM}/{on_ovs.name}/nics/nic1", json={"source": source})
    assert response.status_code == 200, response.text
    page = svc.get("/events", params={"target": f"hosts/th/vms/{on_ovs.name}/nics/nic1"})
    [line] = [e for e in page.json()["items"] if e["action"].startswith("PATCH")]
    assert line["detail"] == "nic1 VLAN 100 → 200 (live update, slot kept)"
    assert (line["data"]["before"]["vlan"], line["data"]["after"]["vlan"]) == (
        {"tags": [100], "trunk": False},
        {"tags": [200], "trunk": False},
    )


def ovs_network(name: str, bridge: str, eng: int) -> str:
    return (
        f"<network><name>{name}</name><forward mode='bridge'/><bridge name='{bridge}'/>"
        "<virtualport type='openvswitch'/>"
        f"<portgroup name='eng' default='yes'><vlan><tag id='{eng}'/></vlan></portgroup>"
        "<portgroup name='ops'><vlan><tag id='300'/></vlan></portgroup></network>"
    )


def test_a_port_group_changed_with_apply_to_running_reaches_its_running_vnics(
    svc, testhost, guests: GuestFactory, ovs_bridge
):
    name = f"pbovsnet{next(_serial)}"
    net = testhost.conn.networkDefineXML(ovs_network(name, ovs_bridge, 100))
    net.create()
    path = f"/hosts/th/networks/{name}"
    xml = {"Content-Type": "application/xml"}
    try:
        on_eng, on_ops = (guests.boot(nics=[NicSpec(name, "ua-nic1")], wait=False) for _ in "ab")
        on_eng.wait_ready()
        moved = svc.patch(
            f"{VM}/{on_ops.name}/nics/nic1",
            json={"source": {"type": "network", "network": name, "portgroup": "ops"}},
        )
        assert moved.status_code == 200, moved.text  # (the card was never plugged by its OS)
        before = svc.get(f"{VM}/{on_eng.name}/nics/nic1").json()
        assert testhost.vsctl("get", "port", before["target_dev"], "tag").strip() == "100"

        # more than port groups cannot be applied to the running network: nothing changes
        port = "<virtualport type='openvswitch'/>"
        more = ovs_network(name, ovs_bridge, 200).replace(port, port + "<vlan><tag id='5'/></vlan>")
        refused = svc.put(path, content=more, headers=xml, params={"apply_to_running": True})
        assert_problem(refused, 409, "CONFLICT")
        assert "port groups" in refused.json()["detail"]
        assert "tag id='100'" in net.XMLDesc(0) and "tag id='100'" in net.XMLDesc(1)

        changed = svc.put(path, content=ovs_network(name, ovs_bridge, 200), headers=xml,
                          params={"apply_to_running": True})  # fmt: skip
        assert changed.status_code == 200, changed.text
        body = changed.json()
        # only the card in the changed group, plugged again into its slot with the new tag
        assert [(o["vm"], o["vnic"], o["outcome"], o["plan"]) for o in body["vnics"]] == [
            (on_eng.name, "nic1", "ok", ["unplug", "plug"])
        ]
        assert body["vnics"][0]["pci_address"] == before["pci_address"]
        after = svc.get(f"{VM}/{on_eng.name}/nics/nic1").json()
        assert testhost.vsctl("get", "port", after["target_dev"], "tag").strip() == "200"
        assert after["vlan"] is None and after["source"]["network"] == name
        ops_tap = svc.get(f"{VM}/{on_ops.name}/nics/nic1").json()["target_dev"]
        assert testhost.vsctl("get", "port", ops_tap, "tag").strip() == "300"
        # the running network and its definition have the new group
        assert "tag id='200'" in net.XMLDesc(0) and "tag id='200'" in net.XMLDesc(1)

        # a group that running vNICs use is not removed from under them
        without_ops = ovs_network(name, ovs_bridge, 200).replace(
            "<portgroup name='ops'><vlan><tag id='300'/></vlan></portgroup>", ""
        )
        refused = svc.put(path, content=without_ops, headers=xml,
                          params={"apply_to_running": True})  # fmt: skip
        assert_problem(refused, 409, "CONFLICT")
        assert f"{on_ops.name}/nic1" in refused.json()["detail"]
    finally:
        guests.cleanup()
        net.destroy()
        net.undefine()
