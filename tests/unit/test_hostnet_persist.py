"""A confirmed host network change in ifupdown's format (plugboard.hostnet.persist): what is
written, how a later change merges into it, and the warning about an interfaces file that
does not source the directory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from plugboard.hostnet import desired as model
from plugboard.hostnet import persist
from plugboard.hostnet.checkpoint import Link, Snapshot
from plugboard.hostnet.persist import as_confirmed, confirmed, managed_in, merge, render, sources


def state(raw: dict[str, Any]) -> dict[str, Any]:
    """A NetworkState's JSON as the service sends it: validated by the model, defaults in."""
    return model.NetworkState.model_validate(raw).model_dump(mode="json")


def plain(raw: dict[str, Any]) -> persist.NetworkState:
    return persist.NetworkState.load(state(raw))


def snap(*links: Link) -> Snapshot:
    return Snapshot({link.name: link for link in links})


BRIDGE = Link("br0", "bridge", True, 1400, settings={"stp_state": 0, "forward_delay": 1500},
              addresses=("10.0.0.1/24", "10.0.1.1/24", "fd00::1/64"))  # fmt: skip
PORT = Link("eth1", "veth", True, 1500, master="br0")
TAP = Link("vnet0", "tun", True, 1500, master="br0")  # a VM's: not a port of the file


def desired(**extra) -> dict[str, Any]:
    return state({"interfaces": [{"name": "br0", "type": "bridge", "mtu": 1400}], **extra})


def test_a_bridge_is_written_as_the_host_has_it_with_its_routes():
    routes = [{"destination": "10.9.0.0/16", "gateway": "10.0.0.254"},
              {"destination": "10.8.0.0/16", "gateway": "192.0.2.1"}]  # fmt: skip
    asked = plain(
        {
            "interfaces": [
                {"name": "br0", "type": "bridge"},
                {"name": "ovs0", "type": "ovs-bridge"},
            ],
            "routes": routes,
        }
    )

    found = as_confirmed(asked, snap(BRIDGE, PORT, TAP))
    text, warnings = render(merge(persist.NetworkState(), found))
    body = text.split("\n", 4)[4]
    assert body == (
        "auto br0\n"
        "iface br0 inet static\n"
        "    bridge_ports eth1\n"
        "    bridge_stp off\n"
        "    bridge_fd 15\n"
        "    mtu 1400\n"
        "    address 10.0.0.1/24\n"
        "    up ip route add 10.9.0.0/16 via 10.0.0.254 dev br0\n"
        "iface br0 inet static\n"
        "    address 10.0.1.1/24\n"
        "iface br0 inet6 static\n"
        "    address fd00::1/64\n"
        "\n"
        "# ovs0: an Open vSwitch bridge; Open vSwitch keeps it in its own database (OVSDB), "
        "nothing to write here\n"
    )
    assert warnings == [
        "route 10.8.0.0/16 via 192.0.2.1 is not written: no interface plugboard manages "
        "carries it (name its dev, one that a change configured)"
    ]


def test_bonds_vlans_and_dhcp_use_ifupdowns_options():
    asked = plain({"interfaces": [
        {"name": "bond0", "type": "bond", "mtu": 9000,
         "bond": {"mode": "802.3ad", "miimon": 50, "ports": ["eth0", "eth1"], "primary": "eth0"}},
        {"name": "vl7", "type": "vlan", "state": "down", "vlan": {"base": "bond0", "id": 7},
         "ipv4": {"dhcp": True}, "ipv6": {"dhcp": True}},
    ]})  # fmt: skip
    text, _ = render(asked)
    assert (
        "auto bond0\niface bond0 inet manual\n    bond-slaves eth0 eth1\n    bond-mode 802.3ad\n"
        "    bond-miimon 50\n    bond-primary eth0\n    mtu 9000\n"
    ) in text
    assert "iface vl7 inet dhcp\n    vlan-raw-device bond0\niface vl7 inet6 dhcp\n" in text
    assert "auto vl7" not in text  # down: configured, not brought up at boot


def test_a_later_change_merges_and_an_absent_interface_is_forgotten(tmp_path: Path):
    (tmp_path / "interfaces").write_text("source /nowhere/*\n")
    first = confirmed(desired(), snap(BRIDGE, PORT), tmp_path)
    assert first.path == str(tmp_path / "interfaces.d/plugboard")
    assert first.warnings == [
        f"{tmp_path}/interfaces does not source {tmp_path}/interfaces.d (add 'source "
        f"{tmp_path}/interfaces.d/*' or 'source-directory {tmp_path}/interfaces.d'): ifupdown "
        f"will not read {tmp_path}/interfaces.d/plugboard at boot"
    ]
    other = Link("br1", "bridge", True, 1500, settings={"stp_state": 1, "forward_delay": 200})
    second = state({"interfaces": [{"name": "br1", "type": "bridge"}]})
    confirmed(second, snap(BRIDGE, PORT, other), tmp_path)
    text = Path(first.path).read_text()
    assert "iface br0 inet static" in text and "    bridge_stp on\n    bridge_fd 2" in text
    assert [i.name for i in managed_in(text).interfaces] == ["br0", "br1"]
    gone = state({"interfaces": [{"name": "br0", "type": "bridge", "state": "absent"}]})
    confirmed(gone, snap(other), tmp_path)
    assert [i.name for i in managed_in(Path(first.path).read_text()).interfaces] == ["br1"]


def test_the_warning_goes_when_the_interfaces_file_sources_the_directory(tmp_path: Path):
    target = tmp_path / "interfaces.d/plugboard"
    assert sources("source interfaces.d/*\n", tmp_path, target)
    assert sources(f"source {tmp_path}/interfaces.d/*\n", tmp_path, target)
    assert sources(f"source-directory {tmp_path}/interfaces.d\n", tmp_path, target)
    assert sources("source-directory interfaces.d/\n", tmp_path, target)
    assert not sources("# source interfaces.d/*\nsource interfaces.d/other\n", tmp_path, target)
    (tmp_path / "interfaces").write_text("auto lo\nsource-directory interfaces.d\n")
    assert confirmed(desired(), snap(BRIDGE, PORT), tmp_path).warnings == []


def test_a_file_that_cannot_be_written_is_a_warning_not_an_error(tmp_path: Path):
    (tmp_path / "interfaces.d").write_text("a file, not a directory")
    written = confirmed(desired(), snap(BRIDGE, PORT), tmp_path)
    assert written.path is None
    assert written.warnings[0].startswith("the change is kept but was not written to")


RICH = {
    "interfaces": [
        {"name": "bond0", "type": "bond", "mtu": 9000, "ipv6": {"dhcp": True},
         "bond": {"mode": "802.3ad", "miimon": 100, "ports": ["eth0"], "primary": "eth0"}},
        {"name": "br0", "type": "bridge", "state": "down", "ipv4": {},
         "bridge": {"ports": ["eth1"], "stp": True, "forward_delay": 15}},
        {"name": "vl7", "type": "vlan", "vlan": {"base": "bond0", "id": 7}, "state": "absent"},
        {"name": "ovs0", "type": "ovs-bridge", "ovs_bridge": {
            "datapath_type": "netdev", "ports": ["eth2"],
            "bonds": [{"name": "ob0", "ports": ["eth3", "eth4"]}],
            "internal": [{"name": "oi0", "tag": 5}, {"name": "oi1"}]}},
    ],
    "routes": [{"destination": "10.9.0.0/16", "gateway": "10.0.0.254"},
               {"destination": "10.8.0.0/16", "dev": "br0", "state": "absent"}],
}  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["NetworkState", "Interface", "Addresses", "BridgeSettings", "VlanSettings", "BondSettings",
     "OvsSettings", "OvsBond", "OvsInternal", "Route"],
)  # fmt: skip
def test_the_plain_values_have_the_models_fields_and_defaults(name: str):
    ours, theirs = getattr(persist, name), getattr(model, name)
    plain_fields = {f.name: f for f in dataclasses.fields(ours)}
    assert list(plain_fields) == list(theirs.model_fields)  # the same order too
    for field_name, info in theirs.model_fields.items():
        plain_field = plain_fields[field_name]
        if info.is_required():
            assert plain_field.default is plain_field.default_factory  # both MISSING
        else:
            default = plain_field.default_factory() if callable(plain_field.default_factory) \
                else plain_field.default  # fmt: skip
            assert default == info.get_default(call_default_factory=True), field_name
        nested = [a for a in (info.annotation, *getattr(info.annotation, "__args__", ()))
                  if isinstance(a, type) and issubclass(a, BaseModel)]  # fmt: skip
        if nested:
            assert ours.NESTED[field_name].__name__ == nested[0].__name__


def test_the_first_line_is_the_one_the_model_wrote_and_reads_back_the_same():
    """Byte for byte what pydantic's exclude_defaults wrote (files on hosts have it)."""
    asked = model.NetworkState.model_validate(RICH)
    lean = asked.model_dump(mode="json", exclude_defaults=True)
    text, _ = render(persist.NetworkState.load(asked.model_dump(mode="json")))
    assert text.split("\n", 1)[0] == persist.HEADER + json.dumps(lean, sort_keys=True)
    assert managed_in(text) == persist.NetworkState.load(asked.model_dump(mode="json"))
    assert managed_in(text).interfaces[1].bridge.forward_delay == 15  # a default, filled in


@pytest.mark.parametrize(
    "line", ['{"interfaces": 5}', '{"interfaces": [5]}', '{"interfaces": [{"nope": 1}]}', "[]"]
)
def test_a_first_line_that_is_not_a_managed_set_is_an_empty_one(line: str):
    assert managed_in(persist.HEADER + line + "\nauto x\n") == persist.NetworkState()
