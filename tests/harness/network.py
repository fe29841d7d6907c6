"""libvirt networks made for one test: named pbtest-*, fast to lease, removed afterwards."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import libvirt

from tests.harness.testhost import TestHost

# dnsmasq pings an address before it leases it (3 s each); STP holds a new port for 2 s.
NETWORK_XML = """\
<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>{name}</name>
  {forward}
  <bridge name={bridge} stp='off' delay='0'/>
  <ip address='{gateway}' prefix='{prefix}'>
    <dhcp>
      <range start='{first}' end='{last}'/>
    </dhcp>
  </ip>
  <dnsmasq:options>
    <dnsmasq:option value='no-ping'/>
  </dnsmasq:options>
</network>
"""

FORWARDS = {
    "nat": "<forward mode='nat'/>",
    "route": "<forward mode='route'/>",
    "open": "<forward mode='open'/>",
    "isolated": "",
}


@dataclass
class TestNetwork:
    """A started libvirt network on a test host."""

    __test__ = False

    name: str
    bridge: str
    subnet: ipaddress.IPv4Network
    net: libvirt.virNetwork

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    def leases(self) -> list[dict]:
        return self.net.DHCPLeases()

    def lease_for(self, mac: str) -> dict | None:
        return next((lease for lease in self.leases() if lease["mac"] == mac.lower()), None)


class NetworkFactory:
    """Makes networks on one test host; `cleanup()` removes every one it made."""

    _serial = itertools.count(1)

    def __init__(self, host: TestHost, octet: int = 77) -> None:
        self.host = host
        self.octet = octet
        self.made: list[TestNetwork] = []

    def create(
        self,
        kind: str = "nat",
        *,
        name: str | None = None,
        bridge: str | None = None,
        subnet: str | None = None,
        persistent: bool = False,
    ) -> TestNetwork:
        n = next(self._serial)
        net_name = name or f"pbtest-{kind}-{n}"
        bridge = bridge or f"pbt{n}"
        ipnet = ipaddress.ip_network(subnet or f"10.{self.octet}.{n % 250}.0/24")
        hosts = list(ipnet.hosts())
        xml = NETWORK_XML.format(
            name=net_name,
            forward=FORWARDS[kind],
            bridge=quoteattr(bridge),
            gateway=hosts[0],
            prefix=ipnet.prefixlen,
            first=hosts[99],
            last=hosts[199],
        )
        if persistent:
            net = self.host.conn.networkDefineXML(xml)
            net.create()
        else:
            net = self.host.conn.networkCreateXML(xml)
        made = TestNetwork(name=net_name, bridge=bridge, subnet=ipnet, net=net)
        self.made.append(made)
        return made

    def refresh(self) -> None:
        """Look each network up again on the host's (re)opened connection (after its libvirtd
        restarted, the old handles are dead)."""
        for made in self.made:
            made.net = self.host.conn.networkLookupByName(made.name)

    def cleanup(self) -> None:
        for made in reversed(self.made):
            try:
                persistent = made.net.isPersistent()
                if made.net.isActive():
                    made.net.destroy()
                if persistent:
                    made.net.undefine()
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
                    raise
        self.made.clear()
