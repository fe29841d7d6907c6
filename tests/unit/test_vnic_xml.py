"""A vNIC as libvirt XML (the declared <interface>, plugboard's metadata record), and the MAC
pool's rules: pure functions, no libvirt."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from plugboard.engine import macpool
from plugboard.errors import InvalidInput, MacAddressInUse, MacAddressInvalid, MacPoolExhausted
from plugboard.netxml.interface import Interface
from plugboard.netxml.xmlmodel import Node, NodeField, Others
from plugboard.vnic import MACVTAP_MODES, MODELS, Source, VlanTags, Vnic
from plugboard.vnic.metadata import NS, VnicRecord, put_records, read_records, records_xml
from plugboard.vnic.model import LIMITS, FilterRef
from plugboard.vnic.xml import (
    BLACKHOLE,
    interface_for,
    parse_interface,
    pci_address,
    vnic_from,
    vnic_name,
)

LIVE_CARD = """<interface type='network' trustGuestRxFilters='yes'>
  <mac address='52:54:00:12:34:56'/>
  <source network='lab' portid='0f1e' bridge='virbr7'/>
  <target dev='vnet3'/>
  <model type='virtio'/>
  <driver name='vhost' queues='2'><host csum='off'/></driver>
  <rom bar='off'/>
  <alias name='ua-nic1'/>
  <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
</interface>"""

# Cards others make that plugboard reads (and keeps what it does not manage of).
READ = [
    LIVE_CARD,
    """<interface type='bridge'>
      <mac address='52:54:00:00:00:0b'/><source bridge='ovsbr0'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='gold'/>
      </virtualport>
      <vlan trunk='yes'><tag id='42' nativeMode='untagged'/><tag id='47'/></vlan>
    </interface>""",
    """<interface type='direct'>
      <source dev='eth0' mode='vepa'/>
      <virtualport type='802.1Qbg'>
        <parameters managerid='11' typeid='1193047' typeidversion='2'
                    instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      </virtualport>
    </interface>""",
    "<interface type='hostdev' managed='yes'><mac address='52:54:00:00:00:0c'/></interface>",
    "<interface type='ethernet'><target dev='mytap0' managed='no'/></interface>",
]
# Made by plugboard: every kind of source, QoS and VLAN it writes.
WRITTEN = [
    Vnic(
        "nic1",
        "52:54:00:00:00:01",
        source=Source("network", network="lab", portgroup="eng"),
        filter=FilterRef("clean-traffic", (("IP", "10.0.0.5"), ("CTRL_IP_LEARNING", "none"))),
    ),
    Vnic(
        "nic2",
        "52:54:00:00:00:02",
        model="e1000",
        source=Source("macvtap", dev="eth1", mode="bridge", attachment="macvtap"),
        bandwidth=(
            ("inbound.average", 10),
            ("inbound.peak", 20),
            ("inbound.burst", 30),
            ("inbound.floor", 5),
            ("outbound.average", 10),
            ("outbound.peak", 20),
            ("outbound.burst", 30),
        ),
    ),
    Vnic(
        "nic3",
        "52:54:00:00:00:03",
        source=Source("ovs", bridge="br0", attachment="ovs"),
        vlan=VlanTags((100, 200), trunk=True),
        linked=False,
    ),
]
# libvirt takes a floor on inbound traffic only.
NEVER_VALID = {("Outbound", "floor")}


# The vocabularies come from the model's declarations, so a new model or mode is generated.
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
        type=st.just("macvtap"),
        dev=st.just("eth1"),
        mode=st.sampled_from(MACVTAP_MODES),
        attachment=st.just("macvtap"),
    ),
)
rates = st.integers(1, 2**32 - 1)
# Each direction: none, or an average and any of its other limits (as the API takes them).
directions = st.tuples(
    *(
        st.none() | st.fixed_dictionaries({"average": rates}, optional={k: rates for k in keys[1:]})
        for keys in LIMITS.values()
    )
)
limits = directions.map(
    lambda found: tuple(
        (f"{direction}.{key}", rate[key])
        for direction, keys, rate in zip(LIMITS, LIMITS.values(), found, strict=True)
        if rate is not None
        for key in keys
        if key in rate
    )
)
vnics = st.builds(
    Vnic,
    name=st.sampled_from(["nic1", "nic2", "uplink-a"]),
    mac=st.sampled_from(["52:54:00:00:00:01", "56:6f:70:00:12:ab"]),
    model=st.sampled_from(MODELS),
    source=sources,
    plugged=st.booleans(),
    linked=st.booleans(),
    bandwidth=limits,
    vlan=st.one_of(
        st.none(),
        st.builds(VlanTags, tags=st.tuples(st.integers(0, 4095))),
        st.builds(
            VlanTags,
            tags=st.lists(st.integers(0, 4095), min_size=2, max_size=4, unique=True).map(tuple),
            trunk=st.just(True),
        ),
    ),
    filter=st.one_of(
        st.none(),
        st.builds(
            FilterRef,
            name=st.sampled_from(["clean-traffic", "no-mac-spoofing"]),
            parameters=st.sampled_from([(), (("IP", "10.0.0.5"),)]),
        ),
    ),
    profile=st.sampled_from([None, "gold"]),
)


@given(vnics, st.sampled_from([None, *READ]))
def test_a_vnic_reads_back_from_its_interface_and_metadata(vnic, base):
    card = interface_for(vnic, parse_interface(base) if base else None)
    stored = parse_interface(card.format())  # as libvirt gets it: text
    kept = VnicRecord(vnic.name, vnic.plugged, vnic.linked, stored, profile=vnic.profile)
    record = read_records(_domain_with(kept))[vnic.name]
    back = record.interface
    assert vnic_from(back, record.linked, vnic.plugged, record.profile) == vnic
    assert back.format() == card.format()


def _domain_with(record: VnicRecord) -> etree._Element:
    domain = etree.fromstring("<domain><name>vm</name><devices/></domain>")
    put_records(domain, {record.name: record})
    # as libvirt stores it: re-parsed from text
    return etree.fromstring(etree.tostring(domain))


def _used(node: Node, seen: set[tuple[str, str]]) -> None:
    for f in node.FIELDS:
        value = getattr(node, f.key)
        if value in (None, []):
            continue
        seen.add((type(node).__name__, f.key))
        if isinstance(f, NodeField):
            for item in value if f.many else [value]:
                _used(item, seen)


def _declared(cls: type[Node], out: set[tuple[str, str]]) -> None:
    for f in cls.FIELDS:
        out.add((cls.__name__, f.key))
        if isinstance(f, NodeField):
            _declared(f.cls, out)


def test_every_declared_field_of_the_interface_is_exercised():
    seen: set[tuple[str, str]] = set()
    for text in READ:
        _used(parse_interface(text), seen)
    for vnic in WRITTEN:
        card = interface_for(vnic, parse_interface(LIVE_CARD))
        _used(parse_interface(card.format()), seen)
        assert vnic_from(card, None, plugged=True) == vnic
    declared: set[tuple[str, str]] = set()
    _declared(Interface, declared)
    assert declared - seen - NEVER_VALID == set()


def test_a_rewired_card_keeps_what_plugboard_does_not_manage_byte_for_byte():
    live = parse_interface(LIVE_CARD)
    vnic = vnic_from(live, None, plugged=True)
    assert vnic.source == Source("network", network="lab")
    moved = interface_for(vnic.with_(source=Source("network", network="prod")), live).format()
    assert "network='prod'" in moved and "portid" not in moved and "virbr7" not in moved
    assert "vnet3" not in moved  # libvirt names the new tap
    assert '<driver name="vhost" queues="2"><host csum="off"/></driver>' in moved
    assert '<rom bar="off"/>' in moved
    assert "trustGuestRxFilters='yes'" in moved
    assert 'bus="0x01"' in moved and "<alias name='ua-nic1'/>" in moved
    assert pci_address(live) == "0000:01:00.0"
    assert [etree.QName(e).localname for e in live.others] == ["driver", "rom"]
    assert any(isinstance(f, Others) for f in Interface.FIELDS)


def test_a_card_plugboard_did_not_make_is_named_by_its_mac():
    card = parse_interface("<interface type='user'><mac address='52:54:00:AB:00:01'/></interface>")
    assert vnic_name(card) == "mac-525400ab0001"
    vnic = vnic_from(card, None, plugged=True)
    assert vnic.source == Source("user") and not vnic.source.managed
    with pytest.raises(ValueError, match="cannot wire"):
        interface_for(vnic, card)


def test_no_network_is_the_black_hole_with_the_cable_out_and_the_wish_in_metadata():
    vnic = Vnic("nic2", "52:54:00:00:00:02", source=None, linked=True)
    iface = interface_for(vnic)
    assert iface.source.network == BLACKHOLE
    assert iface.link.state == "down"
    assert vnic_from(iface, None, plugged=True).linked is False  # no record: as libvirt has it
    assert vnic_from(iface, True, plugged=True).linked is True


def test_metadata_is_all_in_plugboards_namespace_as_libvirt_writes_it():
    card = interface_for(Vnic("nic3", "52:54:00:00:00:03", source=Source("network", "lab")))
    domain = _domain_with(VnicRecord("nic3", plugged=False, linked=False, interface=card))
    stored = domain.find(f"./metadata/{{{NS}}}vnics")
    assert all(etree.QName(e).namespace == NS for e in stored.iter(etree.Element))
    assert records_xml({}) is None
    put_records(domain, {})
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
