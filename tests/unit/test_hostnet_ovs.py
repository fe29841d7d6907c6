"""Open vSwitch bridges in the desired state (pure parts): read from a listing's OVSDB layout,
planned as one step for their bonds and internal ports, and which steps the agent carries
out in OVSDB rather than over netlink."""

from __future__ import annotations

from plugboard.hostnet import netops
from plugboard.hostnet.desired import NetworkState, state_of
from plugboard.hostnet.model import HostInterface, Listing
from plugboard.hostnet.ovsops import wanted_ports
from plugboard.hostnet.plan import plan

LAYOUT = {
    "bond0": {"interfaces": ["eth1", "eth2"], "internal": False, "tag": None, "vm": False},
    "mgmt": {"interfaces": ["mgmt"], "internal": True, "tag": 10, "vm": False},
    "eth3": {"interfaces": ["eth3"], "internal": False, "tag": None, "vm": False},
    "vnet0": {"interfaces": ["vnet0"], "internal": False, "tag": 5, "vm": True},
}
OVS = {"name": "ovs0", "type": "ovs-bridge", "ovs_bridge": {
    "bonds": [{"name": "bond0", "ports": ["eth1", "eth2"]}],
    "ports": ["eth3"], "internal": [{"name": "mgmt", "tag": 10}]}}  # fmt: skip


def listing() -> Listing:
    bridge = HostInterface("ovs0", "ovs-bridge", "up", ports=sorted(LAYOUT),
                           ovs={"datapath_type": "netdev", "layout": LAYOUT})  # fmt: skip
    nics = [HostInterface(n, "veth", "up", master="ovs0") for n in ("eth1", "eth2", "eth3")]
    return Listing("netlink+ovsdb", [], [bridge, *nics])


def test_an_ovs_bridge_is_read_with_its_bonds_and_internal_ports_not_the_vms():
    found = state_of(listing()).find("ovs0")
    assert found is not None and found.ovs_bridge is not None
    assert found.ovs_bridge.model_dump() == {
        "datapath_type": "netdev", "ports": ["eth3"],
        "bonds": [{"name": "bond0", "ports": ["eth1", "eth2"]}],
        "internal": [{"name": "mgmt", "tag": 10}],
    }  # fmt: skip


def test_the_same_ovs_bridge_plans_nothing_and_a_new_tag_one_step():
    current = state_of(listing())
    assert plan(NetworkState.model_validate({"interfaces": [OVS]}), current).steps == []
    retagged = OVS | {"ovs_bridge": OVS["ovs_bridge"] | {"internal": [{"name": "mgmt", "tag": 20}]}}
    steps = plan(NetworkState.model_validate({"interfaces": [retagged]}), current).steps
    assert [(s.action, s.interface, s.detail) for s in steps] == [
        ("set", "ovs0", "bonds bond0(eth1+eth2); internal mgmt(tag 20)")
    ]


def test_a_new_ovs_bridges_making_and_ports_are_ovsdbs_its_address_netlinks():
    new = OVS | {"name": "ovs1", "ipv4": {"addresses": ["10.0.0.1/24"]}}
    desired = NetworkState.model_validate({"interfaces": [new]})
    current = NetworkState.model_validate({"interfaces": [
        {"name": n, "type": "ethernet"} for n in ("eth1", "eth2", "eth3")]})  # fmt: skip
    steps = plan(desired, current).steps
    ovsdb = {(s.action, s.interface) for s in steps if netops.by_ovs(s, desired)}
    assert ovsdb == {("create", "ovs1"), ("enslave", "eth1"), ("enslave", "eth2"),
                     ("enslave", "eth3"), ("set", "ovs1")}  # fmt: skip
    rest = [(s.action, s.interface) for s in steps if not netops.by_ovs(s, desired)]
    assert rest == [("add-address", "ovs1"), ("link-up", "ovs1")]
    ports = wanted_ports(desired.interfaces[0])
    assert [i["name"] for i in ports["bond0"]["interfaces"]] == ["eth1", "eth2"]
    assert (ports["mgmt"]["tag"], ports["mgmt"]["interfaces"][0]["type"]) == (10, "internal")
