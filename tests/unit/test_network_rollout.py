"""Which port groups of a network a new definition changes (pure), and what else it may not
change to be applied to the running network."""

import pytest

from plugboard.engine.network_rollout import changed_portgroups
from plugboard.errors import Conflict
from plugboard.netxml import parse_network

BASE = (
    "<network><name>lab</name><forward mode='bridge'/><bridge name='ovs0'/>"
    "<virtualport type='openvswitch'/>{vlan}"
    "<portgroup name='eng' default='yes'><vlan><tag id='{eng}'/></vlan></portgroup>{more}"
    "</network>"
)


def net(eng: int = 100, more: str = "", vlan: str = ""):
    return parse_network(BASE.format(eng=eng, more=more, vlan=vlan))


def test_changed_added_and_removed_groups_are_named_with_their_new_xml():
    ops = "<portgroup name='ops'><vlan><tag id='300'/></vlan></portgroup>"
    assert changed_portgroups(net(), net()) == {}
    changed = changed_portgroups(net(100, ops), net(200))
    assert set(changed) == {"eng", "ops"}
    assert "tag id='200'" in (changed["eng"] or "") and changed["ops"] is None
    assert list(changed_portgroups(net(), net(100, ops))) == ["ops"]


def test_a_change_beside_the_port_groups_cannot_be_applied_live():
    with pytest.raises(Conflict, match="more than its port groups"):
        changed_portgroups(net(), net(200, vlan="<vlan><tag id='5'/></vlan>"))
