"""The harness is real: guests boot, lease, see their link state, and take hot-plug/unplug."""

import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from tests.harness import GuestFactory, NetworkFactory, NicSpec, TestHost
from tests.harness.guest import interface_element


@pytest.mark.parametrize("kind", ["nat", "isolated"])
def test_guest_gets_a_dhcp_lease(kind: str, networks: NetworkFactory, guests: GuestFactory):
    net = networks.create(kind)
    guest = guests.boot(net.name)
    mac = guest.macs()[0]

    address = guest.wait_for_address(mac, net.subnet)

    lease = guest.wait_for("libvirt to report the lease", lambda: net.lease_for(mac))
    assert lease["ipaddr"] == str(address.ip)
    assert lease["prefix"] == net.subnet.prefixlen
    assert lease["hostname"] == guest.name


def test_link_state_set_through_libvirt_is_the_guests_carrier(
    networks: NetworkFactory, guests: GuestFactory
):
    net = networks.create("isolated")
    guest = guests.boot(net.name)
    mac = guest.macs()[0]
    assert guest.wait_for("carrier 1", lambda: guest.nic_by_mac(mac).carrier == 1)

    for state, carrier in (("down", 0), ("up", 1)):
        iface = guest.interface_xml("ua-nic1")
        link = iface.find("link")
        if link is None:
            link = ET.SubElement(iface, "link")
        link.set("state", state)
        guest.dom.updateDeviceFlags(
            ET.tostring(iface, encoding="unicode"), libvirt.VIR_DOMAIN_AFFECT_LIVE
        )
        guest.wait_for(
            f"carrier {carrier}", lambda c=carrier: guest.nic_by_mac(mac).carrier == c, timeout=10
        )


def test_hot_plug_and_acknowledged_hot_unplug(networks: NetworkFactory, guests: GuestFactory):
    net = networks.create("isolated")
    guest = guests.boot(net.name)
    before = guest.nics()
    mac = "52:54:00:aa:00:02"

    guest.dom.attachDeviceFlags(
        ET.tostring(interface_element(NicSpec(net.name, "ua-nic2", mac=mac)), encoding="unicode"),
        libvirt.VIR_DOMAIN_AFFECT_LIVE,
    )
    plugged = guest.wait_for("the hot-plugged NIC", lambda: guest.nic_by_mac(mac))
    assert plugged.name not in before
    pci = guest.interface_xml("ua-nic2").find("address")
    assert plugged.pci_address == (
        f"{int(pci.get('domain'), 16):04x}:{int(pci.get('bus'), 16):02x}:"
        f"{int(pci.get('slot'), 16):02x}.{int(pci.get('function'), 16)}"
    )
    guest.wait_for_address(mac, net.subnet)

    started = time.monotonic()
    guest.dom.detachDeviceAlias("ua-nic2", libvirt.VIR_DOMAIN_AFFECT_LIVE)
    # libvirt drops the device from the live XML only when the guest acknowledged the unplug.
    guest.wait_for(
        "libvirt to see the unplug acknowledged",
        lambda: mac not in guest.macs(),
        timeout=10,
        interval=0.05,
    )
    acknowledged = time.monotonic() - started
    assert guest.nic_by_mac(mac) is None
    assert set(guest.nics()) == set(before)
    assert acknowledged < 5


def _output(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def _running(pid: str) -> bool:
    """True while the process runs; a zombie has stopped, only its parent did not reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _leased_guest(host: TestHost, name: str, mac: str):
    networks, guests = NetworkFactory(host), GuestFactory(host)
    net = networks.create("isolated", name="pbtest-same", bridge="pbsame", subnet="10.99.0.0/24")
    guest = guests.boot(name=name, nics=[NicSpec(net.name, "ua-nic1", mac=mac)])
    address = guest.wait_for_address(mac, net.subnet)
    return net, guest, address


def test_two_test_hosts_are_independent(more_testhosts):
    a, b = more_testhosts.up(), more_testhosts.up()
    # The same network name, bridge name and subnet on both: only separate hosts allow that.
    net_a, guest_a, addr_a = _leased_guest(a, "pbtest-on-a", "52:54:00:aa:0a:01")
    _, _, addr_b = _leased_guest(b, "pbtest-on-b", "52:54:00:aa:0b:01")
    assert addr_a.ip != addr_b.ip

    assert [d.name() for d in a.conn.listAllDomains()] == ["pbtest-on-a"]
    assert [d.name() for d in b.conn.listAllDomains()] == ["pbtest-on-b"]
    # Each guest reaches its own gateway and not the other host's guest.
    guest_a.check(f"ping -c 1 -W 2 {net_a.gateway}")
    assert guest_a.run(f"ping -c 2 -W 1 {addr_b.ip}").status != 0
    # Neither host's bridge is in the machine's own network namespace.
    assert f" {net_a.bridge}:" not in _output("ip", "-o", "link")


def test_down_leaves_nothing_behind(more_testhosts):
    host = more_testhosts.up()
    networks, guests = NetworkFactory(host), GuestFactory(host)
    guests.boot(networks.create("nat").name)
    pids = _output("ip", "netns", "pids", host.netns).split()
    assert len(pids) >= 3  # libvirtd, dnsmasq, QEMU

    more_testhosts.down_all()

    assert not [pid for pid in pids if _running(pid)]
    assert host.netns not in _output("ip", "netns", "list")
    assert not host.directory.exists()


@pytest.mark.parametrize("with_link_cycle", [False, True], ids=["link-stays-up", "link-cycled"])
def test_guest_re_requests_dhcp_when_its_network_changes(
    with_link_cycle: bool, networks: NetworkFactory, guests: GuestFactory
):
    net_a, net_b = networks.create("isolated"), networks.create("isolated")
    guest = guests.boot(net_a.name)
    mac = guest.macs()[0]
    guest.wait_for_address(mac, net_a.subnet)

    iface = guest.interface_xml("ua-nic1")
    iface.find("source").set("network", net_b.name)
    for attr in ("bridge", "portid"):  # live XML details of the old network
        iface.find("source").attrib.pop(attr, None)
    if with_link_cycle:
        ET.SubElement(iface, "link", state="down")
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE
    guest.dom.updateDeviceFlags(ET.tostring(iface, encoding="unicode"), flags)
    if with_link_cycle:
        iface.find("link").set("state", "up")
        guest.dom.updateDeviceFlags(ET.tostring(iface, encoding="unicode"), flags)

    address = guest.wait_for_address(mac, net_b.subnet, timeout=20)
    assert not [a for a in guest.nic_by_mac(mac).addresses if a in net_a.subnet]
    assert net_b.lease_for(mac)["ipaddr"] == str(address.ip)
