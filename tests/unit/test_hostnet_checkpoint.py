"""The pure parts of applying a host network change (plugboard.hostnet.checkpoint): the diff of
two snapshots, the rollback operations and their order, and verify."""

from __future__ import annotations

from plugboard.hostnet.checkpoint import (
    Link,
    Op,
    RouteEntry,
    Snapshot,
    diff,
    route_fixes,
    undo,
    verify,
)
from plugboard.hostnet.desired import NetworkState

BR = {"stp_state": 0, "forward_delay": 0}


def snap(*links: Link, routes: tuple[RouteEntry, ...] = ()) -> Snapshot:
    return Snapshot({link.name: link for link in links}, routes)


VIRBR = Link("virbr0", "bridge", True, 1500, mac="52:54:00:aa:bb:cc", settings=BR,
             addresses=("192.168.122.1/24",))  # fmt: skip
TAP = Link("vnet0", "tun", True, 1500, master="virbr0")
ETH = Link("eth1", "veth", True, 1500)
BEFORE = snap(VIRBR, TAP, ETH, routes=(RouteEntry("10.1.0.0/16", "192.168.122.9", "virbr0"),))


def test_a_created_bridge_is_deleted_and_its_port_needs_nothing_more():
    now = snap(VIRBR, TAP, Link("eth1", "veth", True, 1500, master="br9"),
               Link("br9", "bridge", True, 1500, settings={"stp_state": 0, "forward_delay": 1500},
                    addresses=("10.9.0.1/24",)),
               routes=BEFORE.routes)  # fmt: skip
    assert undo(BEFORE, now, created={"br9"}) == [Op("delete", "br9")]


def test_a_tap_detached_by_a_change_goes_back_with_mtu_stp_mac_and_address():
    changed = Link("virbr0", "bridge", False, 1400, mac="52:54:00:00:00:01",
                   settings={"stp_state": 1, "forward_delay": 1500})  # fmt: skip
    now = snap(changed, Link("vnet0", "tun", True, 1500), ETH)
    ops = undo(BEFORE, now, created=set())
    assert ops == [
        Op("bridge", "virbr0", BR),
        Op("master", "vnet0", "virbr0"),
        Op("mtu", "virbr0", 1500),
        Op("mac", "virbr0", "52:54:00:aa:bb:cc"),
        Op("add-addr", "virbr0", "192.168.122.1/24"),
        Op("up", "virbr0"),
    ]


def test_a_removed_bridge_is_made_again_before_its_ports_go_back():
    now = snap(Link("vnet0", "tun", True, 1500), ETH)
    actions = [(op.action, op.name) for op in undo(BEFORE, now, created=set())]
    assert actions.index(("create", "virbr0")) < actions.index(("master", "vnet0"))
    assert actions[-1] == ("up", "virbr0")


def test_a_port_moved_to_another_master_is_released_first_and_links_not_ours_stay():
    moved = snap(VIRBR, Link("vnet0", "tun", True, 1500, master="br9"), ETH,
                 Link("br9", "bridge", True, 1500), Link("vnet1", "tun", True, 1500))  # fmt: skip
    # br9 was there before (not created by the change): it stays; vnet1 came meanwhile
    before = snap(*BEFORE.links.values(), Link("br9", "bridge", True, 1500))
    ops = undo(before, moved, created={"vnet1-not-made"})
    assert ops == [Op("nomaster", "vnet0"), Op("master", "vnet0", "virbr0")]


def test_mtus_lowered_masters_first_and_raised_ports_first():
    before = snap(Link("br0", "bridge", True, 1500, settings=BR),
                  Link("p0", "veth", True, 1500, master="br0"),
                  Link("br1", "bridge", True, 9000, settings=BR),
                  Link("p1", "veth", True, 9000, master="br1"))  # fmt: skip
    now = snap(Link("br0", "bridge", True, 9000, settings=BR),
               Link("p0", "veth", True, 9000, master="br0"),
               Link("br1", "bridge", True, 1500, settings=BR),
               Link("p1", "veth", True, 1500, master="br1"))  # fmt: skip
    order = [op.name for op in undo(before, now, created=set())]
    assert order == ["br0", "p0", "p1", "br1"]


def test_routes_lost_come_back_and_routes_added_go_but_not_the_kernels():
    kernel = RouteEntry("192.168.122.0/24", None, "virbr0", proto=2, scope=253)
    added = RouteEntry("10.2.0.0/16", "192.168.122.7", "virbr0")
    ops = route_fixes((*BEFORE.routes, kernel), (added,))
    assert [(op.action, op.name) for op in ops] == [
        ("route-del", "10.2.0.0/16"),
        ("route-add", "10.1.0.0/16"),
    ]


def test_diff_says_what_changed_in_words():
    now = snap(Link("virbr0", "bridge", True, 1400, mac=VIRBR.mac, settings=BR), TAP,
               Link("br9", "bridge", True, 1500))  # fmt: skip
    assert diff(BEFORE, now) == [
        "eth1: removed",
        "br9: added (bridge)",
        "virbr0: mtu 1500 -> 1400",
        "virbr0: address 192.168.122.1/24 removed",
        "route 10.1.0.0/16 via 192.168.122.9 dev virbr0: removed",
    ]
    assert diff(BEFORE, BEFORE) == []


def test_verify_reads_admin_state_ports_settings_and_ignores_vm_taps():
    desired = NetworkState.model_validate({"interfaces": [
        {"name": "virbr0", "type": "bridge", "mtu": 1500, "bridge": {"ports": [], "stp": False,
         "forward_delay": 2}, "ipv4": {"addresses": ["192.168.122.1/24"]}},
        {"name": "gone0", "type": "bridge", "state": "absent"}]})  # fmt: skip
    ok = snap(Link("virbr0", "bridge", True, 1500, settings={"stp_state": 0, "forward_delay": 200},
                   addresses=("192.168.122.1/24",)), TAP)  # fmt: skip
    assert verify(desired, ok) == []
    stp_on = {"stp_state": 1, "forward_delay": 200}
    wrong = snap(Link("virbr0", "bridge", False, 1400, settings=stp_on), TAP,
                 Link("eth1", "veth", True, 1500, master="virbr0"),
                 Link("gone0", "bridge", True, 1500))  # fmt: skip
    assert verify(desired, wrong) == [
        "virbr0: down, asked up",
        "virbr0: mtu 1400, asked 1500",
        "virbr0: ipv4 [], asked ['192.168.122.1/24']",
        "virbr0: port eth1 not asked for",
        "virbr0: stp 1, asked False",
        "gone0: still there, asked absent",
    ]


def test_a_snapshot_survives_its_json_form():
    assert Snapshot.from_json(BEFORE.to_json()) == BEFORE


def test_a_created_vlan_is_deleted_before_the_created_bond_it_is_stacked_on():
    # the kernel deletes a VLAN with its base: deleted after it, it was "no such interface"
    now = snap(VIRBR, TAP, ETH,
               Link("bond0", "bond", True, 1500, settings={"mode": 0, "miimon": 100}),
               Link("bond0.7", "vlan", True, 1500, settings={"base": "bond0", "id": 7}),
               Link("bond0.7.9", "vlan", True, 1500, settings={"base": "bond0.7", "id": 9}),
               routes=BEFORE.routes)  # fmt: skip
    ops = undo(BEFORE, now, created={"bond0", "bond0.7", "bond0.7.9"})
    assert ops == [Op("delete", "bond0.7.9"), Op("delete", "bond0.7"), Op("delete", "bond0")]
