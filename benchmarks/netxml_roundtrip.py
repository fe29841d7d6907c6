"""plugboard.netxml parse+validate+format against libvirt's own parse+format.

Both handle the same mix of documents in one run: plugboard with parse_network() and
format_network(); libvirt with its test:///default driver (in-process): networkDefineXML(),
XMLDesc(), undefine(). Prints each rate and plugboard's as a ratio of libvirt's.

    .venv/bin/python benchmarks/netxml_roundtrip.py [--seconds 3]
"""

import argparse
import statistics
import time

import libvirt

from plugboard.netxml import format_network, parse_network

UUID = "5b9a0d3e-1c2f-4a5b-8c7d-{:012d}"
DOCS = {
    "nat-dhcp": """<network><name>nat</name><uuid>{uuid}</uuid><forward mode='nat'>
  <nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr9' stp='on' delay='0'/><mac address='52:54:00:1a:2b:3c'/>
  <domain name='lab.example'/><dns><host ip='192.168.9.5'><hostname>db</hostname></host></dns>
  <ip address='192.168.9.1' netmask='255.255.255.0'><dhcp>
    <range start='192.168.9.2' end='192.168.9.254'/>
    <host mac='52:54:00:00:00:01' name='a' ip='192.168.9.11'/>
    <host mac='52:54:00:00:00:02' name='b' ip='192.168.9.12'/></dhcp></ip></network>""",
    "routed-ipv6": """<network><name>r6</name><uuid>{uuid}</uuid><forward mode='route'/>
  <bridge name='virbr8'/><ip family='ipv6' address='2001:db8:ca2:2::1' prefix='64'><dhcp>
    <range start='2001:db8:ca2:2::100' end='2001:db8:ca2:2::1ff'/>
    <host id='0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63' name='x'
          ip='2001:db8:ca2:2:3::4'/></dhcp></ip>
  <route family='ipv6' address='2001:db8:ca2:3::' prefix='64' gateway='2001:db8:ca2:2::2'/>
  </network>""",
    "bridge": """<network><name>br</name><uuid>{uuid}</uuid><forward mode='bridge'/>
  <bridge name='br0'/></network>""",
    "macvtap-pool": """<network><name>mv</name><uuid>{uuid}</uuid><forward mode='bridge'>
  <interface dev='eth1'/><interface dev='eth2'/><interface dev='eth3'/><interface dev='eth4'/>
  </forward></network>""",
    "hostdev-pool": """<network><name>hd</name><uuid>{uuid}</uuid>
  <forward mode='hostdev' managed='yes'><driver name='vfio'/>
  <address type='pci' domain='0' bus='4' slot='16' function='1'/>
  <address type='pci' domain='0' bus='4' slot='16' function='3'/>
  <address type='pci' domain='0' bus='4' slot='16' function='5'/></forward></network>""",
    "portgroups-qos-vlan": """<network><name>ovs</name><uuid>{uuid}</uuid>
  <forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/>
  <vlan trunk='yes'><tag id='42' nativeMode='untagged'/><tag id='47'/></vlan>
  <portgroup name='eng' default='yes'><vlan><tag id='100'/></vlan>
    <bandwidth><inbound average='1000' peak='5000' burst='5120'/>
    <outbound average='1000'/></bandwidth></portgroup>
  <portgroup name='sales'><vlan><tag id='200'/></vlan>
    <virtualport type='openvswitch'><parameters profileid='sales'/></virtualport></portgroup>
  </network>""",
}


def documents() -> list[str]:
    return [xml.format(uuid=UUID.format(i)) for i, xml in enumerate(DOCS.values())]


def plugboard_once(docs: list[str]) -> None:
    for xml in docs:
        format_network(parse_network(xml))


def libvirt_once(conn: libvirt.virConnect, docs: list[str]) -> None:
    for xml in docs:
        net = conn.networkDefineXML(xml)
        net.XMLDesc(0)
        net.undefine()


def rate(fn, seconds: float, per_call: int) -> float:
    fn()  # warm up
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        fn()
        done += per_call
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per side and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    docs = documents()
    conn = libvirt.open("test:///default")
    for xml in docs:  # the same definitions, the same output
        net = conn.networkDefineXML(xml)
        assert net.XMLDesc(0) == format_network(parse_network(xml)), xml
        net.undefine()
    ours, theirs = [], []
    for _ in range(args.rounds):  # interleaved rounds, so drift hits both sides alike
        ours.append(rate(lambda: plugboard_once(docs), args.seconds, len(docs)))
        theirs.append(rate(lambda: libvirt_once(conn, docs), args.seconds, len(docs)))
    ratios = sorted(o / t for o, t in zip(ours, theirs, strict=True))
    print(f"documents: {', '.join(DOCS)}")
    print(f"plugboard.netxml parse+validate+format: {statistics.median(ours):8.0f} documents/s")
    print(
        f"libvirt test:///default define+XMLDesc+undefine: "
        f"{statistics.median(theirs):8.0f} documents/s"
    )
    print(
        f"ratio plugboard/libvirt: median {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
