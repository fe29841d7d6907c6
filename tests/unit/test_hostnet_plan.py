"""The host network plan (plugboard.hostnet.plan): ordered steps with reasons, and the
refusals that come before anything changes (issue 18)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from plugboard.hostnet.desired import NetworkState, state_of
from plugboard.hostnet.model import HostInterface, Listing
from plugboard.hostnet.plan import plan


def state(*interfaces: dict, routes: list[dict] | None = None) -> NetworkState:
    return NetworkState.model_validate({"interfaces": list(interfaces), "routes": routes or []})


ETH = {"name": "veth0", "type": "ethernet", "mtu": 1500}
HOST = state(ETH, {"name": "eth1", "type": "ethernet", "mtu": 1500})


def actions(p) -> list[tuple[str, str, str]]:
    return [(s.action, s.interface, s.detail) for s in p.steps]


def test_a_bridge_over_a_veth_with_an_address_in_order():
    desired = state({"name": "br0", "type": "bridge", "bridge": {"ports": ["veth0"]},
                     "ipv4": {"addresses": ["10.9.0.1/24"]}})  # fmt: skip
    p = plan(desired, HOST)
    assert not p.refused
    assert actions(p) == [
        ("create", "br0", "bridge"),
        ("enslave", "veth0", "to br0"),
        ("set", "br0", "stp off"),
        ("set", "br0", "forward delay 15 s"),
        ("add-address", "br0", "10.9.0.1/24"),
        ("link-up", "br0", "up"),
    ]
    assert all(s.reason for s in p.steps)
    assert not [s for s in p.steps if s.interface == "eth1"]  # not mentioned: left alone


def test_the_same_state_plans_nothing():
    current = state(ETH, {"name": "br0", "type": "bridge", "bridge": {"ports": ["veth0"]},
                          "ipv4": {"addresses": ["10.9.0.1/24"]}})  # fmt: skip
    assert plan(current, current).steps == []


@pytest.mark.parametrize(
    ("desired", "words"),
    [
        ([{"name": "br0", "type": "bridge", "bridge": {"ports": ["veth0"]}},
          {"name": "br1", "type": "bridge", "bridge": {"ports": ["veth0"]}}],
         "veth0 would be a port of br0 and br1"),
        ([{"name": "br0", "type": "bridge", "bridge": {"ports": ["br0"]}}],
         "a port of itself"),
        ([{"name": "br0", "type": "bridge", "bridge": {"ports": ["bond0"]}},
          {"name": "bond0", "type": "bond", "bond": {"ports": ["br0"]}}],
         "inside itself"),
        ([{"name": "v10", "type": "vlan", "vlan": {"base": "eth9", "id": 10}}],
         "eth9, which the host does not have"),
        ([{"name": "br0", "type": "bridge", "mtu": 9000, "bridge": {"ports": ["veth0"]}}],
         "br0's MTU 9000 is above its port veth0's 1500"),
        ([{"name": "veth0", "type": "bridge"}], "veth0 is a ethernet, not a bridge"),
        ([{"name": "br0", "type": "bridge", "bridge": {"ports": ["nope0"]}}],
         "port nope0 of br0 does not exist"),
    ],
)  # fmt: skip
def test_refused_before_anything_changes(desired, words):
    p = plan(state(*desired), HOST)
    assert p.refused and p.steps == []
    assert any(words in r.detail for r in p.refusals), p.refusals


def test_removing_what_a_network_a_vm_or_the_management_address_uses_is_refused_naming_them():
    current = state(ETH, {"name": "virbr1", "type": "bridge", "bridge": {"ports": ["veth0"]}})
    users = {"virbr1": ["network lab", "VM web1 (running)"]}
    p = plan(state({"name": "virbr1", "type": "bridge", "state": "absent"}), current, users)
    assert [r.detail for r in p.refusals] == [
        "virbr1 is used by network lab, VM web1 (running); move them first"
    ]
    p = plan(state({"name": "veth0", "type": "ethernet", "state": "absent"}), current,
             management={"veth0"})  # fmt: skip
    assert "cut the host off" in p.refusals[0].detail


def test_a_vlan_on_a_new_bond_comes_after_it_and_removal_goes_vlan_first():
    desired = state(
        {"name": "bond0.10", "type": "vlan", "vlan": {"base": "bond0", "id": 10}},
        {"name": "bond0", "type": "bond", "bond": {"mode": "802.3ad", "ports": ["veth0", "eth1"]}},
    )
    p = plan(desired, HOST)
    assert [a for a in actions(p) if a[0] == "create"] == [
        ("create", "bond0", "bond, mode 802.3ad"),
        ("create", "bond0.10", "vlan 10 on bond0"),
    ]
    bond = {"name": "bond0", "type": "bond", "bond": {"ports": ["veth0"]}}
    now = state(
        ETH, bond, {"name": "bond0.10", "type": "vlan", "vlan": {"base": "bond0", "id": 10}}
    )
    gone = state({"name": "bond0", "type": "bond", "state": "absent"},
                 {"name": "bond0.10", "type": "vlan", "state": "absent"})  # fmt: skip
    assert actions(plan(gone, now)) == [
        ("remove", "bond0.10", "vlan"),
        ("release", "veth0", "from bond0"),
        ("remove", "bond0", "bond"),
    ]


def test_mtu_raised_ports_first_lowered_master_first():
    now = state(ETH, {"name": "br0", "type": "bridge", "mtu": 1500, "bridge": {"ports": ["veth0"]}})
    up = state({"name": "br0", "type": "bridge", "mtu": 9000, "bridge": {"ports": ["veth0"]}},
               {"name": "veth0", "type": "ethernet", "mtu": 9000})  # fmt: skip
    assert [s.interface for s in plan(up, now).steps if s.action == "set-mtu"] == ["veth0", "br0"]
    ports = {"ports": ["veth0"]}
    high = state({"name": "veth0", "type": "ethernet", "mtu": 9000},
                 {"name": "br0", "type": "bridge", "mtu": 9000, "bridge": ports})  # fmt: skip
    down = state({"name": "veth0", "type": "ethernet", "mtu": 1500},
                 {"name": "br0", "type": "bridge", "mtu": 1500, "bridge": ports})  # fmt: skip
    assert [s.interface for s in plan(down, high).steps if s.action == "set-mtu"] == [
        "br0",
        "veth0",
    ]


def test_a_vms_tap_stays_on_its_bridge_whatever_the_ports_asked():
    listing = Listing("netlink", [], [
        HostInterface("veth0", "veth", "up", mtu=1500),
        HostInterface("virbr1", "bridge", "up", mtu=1500, ports=["veth0", "vnet3"]),
        HostInterface("vnet3", "tap", "up", mtu=1500, master="virbr1"),
    ])  # fmt: skip
    current = state_of(listing)
    assert current.find("vnet3") is None  # taps are not configured here
    desired = state({"name": "virbr1", "type": "bridge", "mtu": 1400, "bridge": {"ports": []}},
                    {"name": "veth0", "type": "ethernet", "mtu": 1500})  # fmt: skip
    p = plan(desired, current)
    assert ("release", "veth0", "from virbr1") in actions(p)
    assert not [s for s in p.steps if s.interface == "vnet3"]


@pytest.mark.parametrize(
    "bad",
    [
        {"interfaces": [{"name": "x0", "type": "wormhole"}]},
        {"interfaces": [{"name": "x0", "type": "ethernet", "mtu": 70000}]},
        {"interfaces": [{"name": "a-name-far-too-long", "type": "ethernet"}]},
        {"interfaces": [{"name": "x0", "type": "ethernet", "colour": "red"}]},
    ],
)
def test_unknown_kinds_and_impossible_values_are_refused_by_the_schema(bad):
    with pytest.raises(ValidationError):
        NetworkState.model_validate(bad)


def test_routes_added_and_removed():
    now = state(ETH, routes=[{"destination": "10.1.0.0/16", "gateway": "10.9.0.254"}])
    desired = state(routes=[
        {"destination": "10.1.0.0/16", "gateway": "10.9.0.254", "state": "absent"},
        {"destination": "0.0.0.0/0", "gateway": "10.9.0.1", "dev": "veth0"},
    ])  # fmt: skip
    assert actions(plan(desired, now)) == [
        ("route-del", "10.1.0.0/16", "10.1.0.0/16 via 10.9.0.254"),
        ("route-add", "0.0.0.0/0", "0.0.0.0/0 via 10.9.0.1 dev veth0"),
    ]


NAMES = st.sampled_from(["eth0", "eth1", "eth2", "br0", "br1", "bond0"])


@st.composite
def host_states(draw) -> NetworkState:
    """Ethernets eth0..eth2, and maybe a bridge and a bond over some of them (no port twice)."""
    nics = [{"name": f"eth{i}", "type": "ethernet", "mtu": draw(st.sampled_from([1500, 9000]))}
            for i in range(3)]  # fmt: skip
    free = [n["name"] for n in nics]
    masters = []
    for name, kind in (("br0", "bridge"), ("bond0", "bond")):
        if draw(st.booleans()):
            ports = draw(st.lists(st.sampled_from(free), unique=True, max_size=2))
            free = [f for f in free if f not in ports]
            key = "bridge" if kind == "bridge" else "bond"
            masters.append({"name": name, "type": kind, key: {"ports": ports},
                            "state": draw(st.sampled_from(["up", "down"]))})  # fmt: skip
    return state(*nics, *masters)


@given(host_states())
def test_a_state_planned_against_itself_needs_no_step(current):
    p = plan(current, current)
    assert not p.refused and p.steps == []


@given(host_states(), host_states())
def test_a_plan_touches_only_what_the_desired_state_mentions_and_its_ports(current, desired):
    p = plan(desired, current)
    mentioned = {i.name for i in desired.interfaces}
    ports = {port for i in [*desired.interfaces, *current.interfaces] for port in i.ports()}
    assert {s.interface for s in p.steps} <= mentioned | ports
