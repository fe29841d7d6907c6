"""apply_update against libvirt's own virNetworkUpdate on a real test host: the same steps,
the same result after each (or both refuse)."""

import itertools

import libvirt
import pytest

from plugboard.hosts.adapter import UPDATE_COMMANDS as COMMANDS
from plugboard.hosts.adapter import UPDATE_SECTIONS as SECTIONS
from plugboard.netxml import NetworkXMLError, apply_update, format_network, parse_network
from tests.harness import TestHost

NAT = """<network><name>{name}</name><uuid>{uuid}</uuid><forward mode='nat'/>
<bridge name='{bridge}' stp='off'/><mac address='52:54:00:1a:2b:3c'/>
<ip address='10.40.0.1' prefix='24'><dhcp><range start='10.40.0.100' end='10.40.0.200'/>
<host mac='52:54:00:00:00:01' name='a' ip='10.40.0.11'/></dhcp></ip>
<ip family='ipv6' address='fd40::1' prefix='64'/>
<portgroup name='eng' default='yes'/></network>"""
POOL = """<network><name>{name}</name><uuid>{uuid}</uuid>
<forward mode='bridge'><interface dev='eth1'/><interface dev='eth2'/></forward></network>"""

STEPS = {
    "dhcp-hosts": (
        NAT,
        [
            (
                "add-last",
                "ip-dhcp-host",
                "<host mac='52:54:00:00:00:02' name='b' ip='10.40.0.12'/>",
            ),
            ("add-first", "ip-dhcp-host", "<host mac='52:54:00:00:00:03' ip='10.40.0.13'/>"),
            ("add-last", "ip-dhcp-host", "<host mac='52:54:00:00:00:02' ip='10.40.0.99'/>"),
            ("add-last", "ip-dhcp-host", "<host mac='52:54:00:00:00:09'/>"),
            ("add-last", "ip-dhcp-host", "<host ip='10.40.0.77'/>"),
            (
                "modify",
                "ip-dhcp-host",
                "<host mac='52:54:00:00:00:02' name='bee' ip='10.40.0.22'/>",
            ),
            ("modify", "ip-dhcp-host", "<host mac='52:54:00:00:00:42' ip='10.40.0.42'/>"),
            ("delete", "ip-dhcp-host", "<host mac='52:54:00:00:00:03'/>"),
            ("delete", "ip-dhcp-host", "<host mac='52:54:00:00:00:03'/>"),
            ("delete", "ip-dhcp-host", "<host name='bee'/>"),
            ("add-last", "ip-dhcp-host", "<range start='10.40.0.2' end='10.40.0.3'/>"),
            ("add-last", "ip-dhcp-host", "<host mac='52:54:00:00:00:05' ip='fd40::5'/>"),
            ("add-last", "ip-dhcp-host", "<host id='0:1:2' name='six' ip='fd40::6'/>", 1),
            ("add-last", "ip-dhcp-host", "<host mac='52:54:00:00:00:07' ip='10.40.0.17'/>", 5),
        ],
    ),
    "dhcp-ranges": (
        NAT,
        [
            ("add-first", "ip-dhcp-range", "<range start='10.40.0.20' end='10.40.0.30'/>"),
            ("add-last", "ip-dhcp-range", "<range start='10.40.0.20' end='10.40.0.30'/>"),
            ("modify", "ip-dhcp-range", "<range start='10.40.0.20' end='10.40.0.31'/>"),
            ("add-last", "ip-dhcp-range", "<range start='10.41.0.20' end='10.41.0.30'/>"),
            ("add-last", "ip-dhcp-range", "<range start='10.40.0.40' end='10.40.0.255'/>"),
            ("delete", "ip-dhcp-range", "<range start='10.40.0.100' end='10.40.0.200'/>"),
            ("delete", "ip-dhcp-range", "<range start='10.40.0.100' end='10.40.0.200'/>"),
            ("add-last", "ip-dhcp-range", "<range start='fd40::10' end='fd40::20'/>", 1),
            ("add-last", "ip-dhcp-range", "<range start='fd40::10' end='fd40::20'/>"),
        ],
    ),
    "portgroups": (
        NAT,
        [
            (
                "add-last",
                "portgroup",
                "<portgroup name='ops'><bandwidth><inbound average='10'/></bandwidth></portgroup>",
            ),
            ("add-last", "portgroup", "<portgroup name='ops'/>"),
            ("add-first", "portgroup", "<portgroup name='x' default='yes'/>"),
            ("modify", "portgroup", "<portgroup name='eng'/>"),
            ("modify", "portgroup", "<portgroup name='x' default='yes'/>"),
            ("modify", "portgroup", "<portgroup name='nope'/>"),
            ("delete", "portgroup", "<portgroup name='ops'/>"),
            ("delete", "portgroup", "<portgroup name='ops'/>"),
        ],
    ),
    "dns": (
        NAT,
        [
            ("add-last", "dns-host", "<host ip='10.40.0.5'><hostname>db</hostname></host>"),
            ("add-first", "dns-host", "<host ip='10.40.0.6'><hostname>db</hostname></host>"),
            ("add-last", "dns-host", "<host ip='10.40.0.5'><hostname>x</hostname></host>"),
            ("modify", "dns-host", "<host ip='10.40.0.5'><hostname>y</hostname></host>"),
            ("delete", "dns-host", "<host><hostname>db</hostname></host>"),
            ("delete", "dns-host", "<host ip='10.40.0.6'/>"),
            ("add-last", "dns-txt", "<txt name='t1' value='v1'/>"),
            ("add-last", "dns-txt", "<txt name='t1' value='v2'/>"),
            ("add-last", "dns-txt", "<txt name='t2'/>"),
            ("delete", "dns-txt", "<txt name='t1'/>"),
            ("delete", "dns-txt", "<txt name='t1'/>"),
            ("add-last", "dns-srv", "<srv service='ldap' protocol='tcp' target='a' port='389'/>"),
            ("add-first", "dns-srv", "<srv service='ldap' protocol='udp' target='a'/>"),
            ("add-last", "dns-srv", "<srv service='ldap' protocol='tcp' target='a'/>"),
            ("delete", "dns-srv", "<srv service='ldap'/>"),
            ("delete", "dns-srv", "<srv service='ldap' protocol='udp'/>"),
            ("add-last", "dns-srv", "<srv service='x'/>"),
        ],
    ),
    "forward-pool": (
        POOL,
        [
            ("add-last", "forward-interface", "<interface dev='eth3'/>"),
            ("add-first", "forward-interface", "<interface dev='eth0'/>"),
            ("add-last", "forward-interface", "<interface dev='eth3'/>"),
            ("modify", "forward-interface", "<interface dev='eth3'/>"),
            ("delete", "forward-interface", "<interface dev='eth1'/>"),
            ("delete", "forward-interface", "<interface dev='eth9'/>"),
            ("add-last", "forward-interface", "<interface/>"),
            ("add-last", "forward-interface", "<pf dev='eth5'/>"),
        ],
    ),
    "unsupported-sections": (
        NAT,
        [
            ("modify", "bridge", "<bridge name='x'/>"),
            ("modify", "domain", "<domain name='x'/>"),
            ("modify", "ip", "<ip address='10.9.9.1'/>"),
            ("modify", "forward", "<forward mode='route'/>"),
            ("add-last", "forward-pf", "<pf dev='x'/>"),
        ],
    ),
}
_serial = itertools.count()


@pytest.mark.parametrize("case", sorted(STEPS))
def test_updates_match_libvirt_step_by_step(case: str, testhost: TestHost):
    n = next(_serial)
    base, steps = STEPS[case]
    xml = base.format(
        name=f"pbu{n}-{case}", uuid=f"7d2a0f4e-0000-4000-8000-{n:012d}", bridge=f"pbu{n}"
    )
    theirs = testhost.conn.networkDefineXML(xml)
    ours = parse_network(xml)
    try:
        assert format_network(ours) == theirs.XMLDesc(0)
        for step in steps:
            command, section, snippet, *parent = step
            parent_index = parent[0] if parent else -1
            try:
                theirs.update(
                    COMMANDS[command],
                    SECTIONS[section],
                    parent_index,
                    snippet,
                    libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG,
                )
                refused = None
            except libvirt.libvirtError as err:
                refused = err.get_error_message()
            try:
                ours = apply_update(ours, command, section, snippet, parent_index)
                assert refused is None, f"{step}: libvirt refuses ({refused}), plugboard not"
            except NetworkXMLError as err:
                assert refused is not None, f"{step}: plugboard refuses ({err}), libvirt not"
            assert format_network(ours) == theirs.XMLDesc(0), f"after {step}"
    finally:
        theirs.undefine()


def test_apply_update_leaves_the_given_network_unchanged():
    net = parse_network(
        STEPS["dns"][0].format(name="n", uuid="7d2a0f4e-0000-4000-8000-000000000000", bridge="b")
    )
    before = format_network(net)
    after = apply_update(net, "add-last", "dns-txt", "<txt name='a' value='b'/>")
    assert format_network(net) == before
    assert "<txt name='a' value='b'/>" in format_network(after)
