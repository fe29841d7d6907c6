"""A vNIC as libvirt XML, and the MAC pool's rules: pure functions, no libvirt."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from plugboard.engine import macpool
from plugboard.errors import InvalidInput, MacAddressInUse, MacAddressInvalid, MacPoolExhausted
from plugboard.vnic import MODELS, Source, Vlan, Vnic
from plugboard.vnic.xml import (
    BLACKHOLE,
    NS,
    Meta,
    interface_for,
    meta_xml,
    pci_address,
    read_meta,
    set_meta,
    to_string,
    vnic_from,
)

LIVE_CARD = """<interface type='network'>
  <mac address='52:54:00:12:34:56'/>
  <source network='lab' portid='0f1e' bridge='virbr7'/>
  <target dev='vnet3'/>
  <model type='virtio'/>
  <driver name='vhost' queues='2'/>
  <alias name='ua-nic1'/>
  <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
</interface>"""

sources = st.one_of(
    st.none(),
    st.builds(
        Source,
        type=st.just("network"),
        network=st.sampled_from(["lab", "prod"]),
        portgroup=st.sampled_from([None, "eng"]),
    ),
    st.builds(Source, type=st.just("bridge"), bridge=st.sampled_from(["br0", "br1"])),
    st.builds(Source, type=st.just("ovs"), bridge=st.just("ovsbr0"), attachment=st.just("ovs")),
    st.builds(
        Source,
        type=st.just("direct"),
        dev=st.just("eth1"),
        mode=st.sampled_from(["bridge", "vepa", "private", "passthrough"]),
        attachment=st.just("macvtap"),
    ),
)
vnics = st.builds(
    Vnic,
    name=st.sampled_from(["nic1", "nic2", "uplink-a"]),
    mac=st.sampled_from(["52:54:00:00:00:01", "56:6f:70:00:12:ab"]),
    model=st.sampled_from(MODELS),
    source=sources,
    plugged=st.booleans(),
    linked=st.booleans(),
    bandwidth=st.sampled_from(
        [(), (("inbound.average", 1000),), (("inbound.average", 10), ("outbound.peak", 99))]
    ),
    vlan=st.sampled_from([None, Vlan((100,)), Vlan((100, 200), trunk=True)]),
)


@given(vnics)
def test_a_vnic_reads_back_from_its_interface_and_metadata(vnic):
    iface = interface_for(vnic)
    meta = read_meta(_domain_with(Meta(vnic.name, vnic.plugged, vnic.linked, iface)))
    assert vnic_from(iface, meta[vnic.name], plugged=vnic.plugged) == vnic


def _domain_with(meta: Meta) -> etree._Element:
    domain = etree.fromstring("<domain><name>vm</name><devices/></domain>")
    set_meta(domain, {meta.name: meta})
    # as libvirt stores it: re-parsed from text
    return etree.fromstring(etree.tostring(domain))


def test_a_rewired_card_keeps_what_plugboard_does_not_manage_and_drops_runtime_state():
    live = etree.fromstring(LIVE_CARD)
    vnic = vnic_from(live, None, plugged=True)
    assert vnic.source == Source("network", network="lab")
    moved = to_string(interface_for(vnic.with_(source=Source("network", network="prod")), live))
    assert 'network="prod"' in moved and "portid" not in moved and "virbr7" not in moved
    assert "vnet3" not in moved  # libvirt names the new tap
    assert '<driver name="vhost" queues="2"/>' in moved
    assert 'bus="0x01"' in moved and '<alias name="ua-nic1"/>' in moved
    assert pci_address(live) == "0000:01:00.0"


def test_no_network_is_the_black_hole_with_the_cable_out_and_the_wish_in_metadata():
    vnic = Vnic("nic2", "52:54:00:00:00:02", source=None, linked=True)
    iface = interface_for(vnic)
    assert iface.find("source").get("network") == BLACKHOLE
    assert iface.find("link").get("state") == "down"
    assert vnic_from(iface, None, plugged=True).linked is False  # no record: as libvirt has it
    assert vnic_from(iface, Meta("nic2", True, True), plugged=True).linked is True


def test_metadata_is_all_in_plugboards_namespace_as_libvirt_writes_it():
    card = interface_for(Vnic("nic3", "52:54:00:00:00:03", source=Source("network", "lab")))
    domain = _domain_with(Meta("nic3", plugged=False, linked=False, interface=card))
    stored = domain.find(f"./metadata/{{{NS}}}vnics")
    assert all(etree.QName(e).namespace == NS for e in stored.iter(etree.Element))
    assert meta_xml({}) is None
    set_meta(domain, {})
    assert domain.find("metadata") is None  # nothing left to keep: no empty element


# --- the MAC pool ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mac", ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "52:54:00:00:00", "x"]
)
def test_macs_a_nic_cannot_have(mac):
    with pytest.raises(MacAddressInvalid):
        macpool.check_mac(mac)


def test_allocate_takes_the_lowest_free_mac_and_says_when_none_is_left():
    pool = macpool.Pool("p", (("02:00:00:00:00:00", "02:00:00:00:00:02"),), False)
    assert macpool.allocate(pool, set()) == "02:00:00:00:00:00"
    assert macpool.allocate(pool, {"02:00:00:00:00:00", "aa:00:00:00:00:00"}) == (
        "02:00:00:00:00:01"
    )
    used = {"02:00:00:00:00:00", "02:00:00:00:00:01", "02:00:00:00:00:02"}
    with pytest.raises(MacPoolExhausted):
        macpool.allocate(pool, used)
    with pytest.raises(MacAddressInUse):
        macpool.check_free("02:00:00:00:00:01", pool, used)
    sharing = macpool.Pool("p", pool.ranges, allow_duplicates=True)
    macpool.check_free("02:00:00:00:00:01", sharing, used)  # allowed: no error


@pytest.mark.parametrize(
    "ranges",
    [
        [],
        ["02:00:00:00:00:09-02:00:00:00:00:01"],
        ["02:00:00:00:00:00-02:00:00:00:00:10", "02:00:00:00:00:05-02:00:00:00:00:20"],
        ["02:ff:ff:ff:ff:ff-03:00:00:00:00:01"],
        ["01:00:00:00:00:00-01:00:00:00:00:05"],
        ["nonsense"],
    ],
)
def test_pool_ranges_are_checked(ranges):
    with pytest.raises(InvalidInput):
        macpool.parse_ranges(ranges)
