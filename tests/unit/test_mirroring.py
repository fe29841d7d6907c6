"""Port mirroring's pure parts: the desired rules (plugboard.hostnet.mirror.desired_rules), the
setting in the domain's metadata, and the reading of tc's JSON."""

from lxml import etree

from plugboard.engine.mirroring import NS, MirrorSetting, read_settings, settings_xml
from plugboard.hostnet.mirror import (
    COOKIE,
    EGRESS,
    INGRESS,
    PREF,
    Monitor,
    Tap,
    Topology,
    _actions,
    _ours,
    desired_rules,
)

TAPS = {
    "a/nic1": Tap("a", "nic1", "vnet0", "br-lab"),
    "b/nic1": Tap("b", "nic1", "vnet1", "br-lab"),
    "m/nic1": Tap("m", "nic1", "vnet2", "br-lab"),
    "c/nic1": Tap("c", "nic1", "vnet3", "br-other"),
    "o/nic1": Tap("o", "nic1", "vnet4", "ovs0"),
    "p/nic1": Tap("p", "nic1", "vnet5", "ovs0"),
}
BRIDGES = {"br-lab": ["vnet0", "vnet1", "vnet2", "veth-up"], "br-other": ["vnet3"]}
TOPOLOGY = Topology(TAPS, BRIDGES, frozenset({"ovs0"}))


def test_mirroring_whole_linux_bridge_copies_each_other_port_in_and_the_host_out():
    desired = desired_rules([Monitor("m", "nic1", port_mirroring=True)], TOPOLOGY)
    assert desired.tc == {
        ("br-lab", EGRESS): ("vnet2",),
        ("veth-up", INGRESS): ("vnet2",),
        ("vnet0", INGRESS): ("vnet2",),
        ("vnet1", INGRESS): ("vnet2",),
    }
    assert desired.ovs == {}
    assert desired.notes == {"m/nic1": []}


def test_mirroring_whole_ovs_bridge_is_a_mirror_row_to_the_monitors_port():
    desired = desired_rules([Monitor("p", "nic1", port_mirroring=True)], TOPOLOGY)
    assert desired.tc == {}
    assert desired.ovs == {"p/nic1": ("ovs0", "vnet5")}


def test_mirroring_of_chosen_vnics_copies_both_directions_of_their_taps_on_any_network():
    desired = desired_rules([Monitor("m", "nic1", mirror_of=("a/nic1", "c/nic1"))], TOPOLOGY)
    assert desired.tc == {
        ("vnet0", EGRESS): ("vnet2",),
        ("vnet0", INGRESS): ("vnet2",),
        ("vnet3", EGRESS): ("vnet2",),
        ("vnet3", INGRESS): ("vnet2",),
    }


def test_mirroring_two_monitors_of_one_tap_share_its_rule():
    desired = desired_rules(
        [Monitor("m", "nic1", mirror_of=("a/nic1",)), Monitor("b", "nic1", mirror_of=("a/nic1",))],
        TOPOLOGY,
    )
    assert desired.tc[("vnet0", INGRESS)] == ("vnet1", "vnet2")


def test_mirroring_of_what_does_not_run_is_a_note_not_a_rule():
    stopped = desired_rules([Monitor("gone", "nic1", port_mirroring=True)], TOPOLOGY)
    assert stopped.tc == {} and "not running" in stopped.notes["gone/nic1"][0]
    source_down = desired_rules([Monitor("m", "nic1", mirror_of=("x/nic9",))], TOPOLOGY)
    assert source_down.tc == {} and "x/nic9" in source_down.notes["m/nic1"][0]


def test_mirroring_off_wants_nothing():
    assert desired_rules([Monitor("m", "nic1")], TOPOLOGY).tc == {}


def test_mirroring_setting_round_trips_through_the_metadata_as_libvirt_keeps_it():
    settings = {"nic1": MirrorSetting(True), "nic2": MirrorSetting(False, ("a/nic1", "b/nic2"))}
    xml = settings_xml(settings)
    assert xml is not None
    # libvirt puts the element into its namespace
    element = etree.fromstring(xml)
    for node in element.iter():
        node.tag = f"{{{NS}}}{node.tag}"
    domain = etree.fromstring("<domain><metadata/></domain>")
    domain.find("metadata").append(element)
    assert read_settings(domain) == settings
    assert settings_xml({"nic1": MirrorSetting()}) is None  # all off: the element goes


def test_mirroring_reads_only_its_own_tc_filters():
    ours = {"kind": "mirred", "to_dev": "vnet2", "cookie": COOKIE}
    libvirt_police = {"pref": 49152, "options": {"actions": [{"kind": "police"}]}}
    shown = [
        {"pref": PREF, "kind": "u32"},  # the hash table's entries carry no actions
        {"pref": PREF, "options": {"actions": [ours, ours | {"to_dev": "vnet1"}]}},
        libvirt_police,
    ]
    rule = _ours("vnet0", INGRESS, "ffff:", shown)
    assert rule is not None and rule.targets == ("vnet1", "vnet2") and rule.others == 1
    assert _ours("vnet0", INGRESS, "ffff:", [libvirt_police]) is None


def test_mirroring_actions_pass_the_frame_on_after_the_last_copy():
    assert _actions(("vnet1", "vnet2")) == [
        "action", "mirred", "egress", "mirror", "dev", "vnet1", "pipe", "cookie", COOKIE,
        "action", "mirred", "egress", "mirror", "dev", "vnet2", "continue", "cookie", COOKIE,
    ]  # fmt: skip
