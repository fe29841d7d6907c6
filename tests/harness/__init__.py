"""The test harness: real libvirt test hosts, networks on them, and booted guests.

Everything here drives real parts: a private libvirtd per test host (scripts/testhost), libvirt
networks with real dnsmasq and bridges in the host's network namespace, and guests booted under
QEMU (TCG) from the image that `make guest` builds.
"""

from tests.harness.guest import Guest, GuestFactory, GuestNic, NicSpec
from tests.harness.network import NetworkFactory, TestNetwork
from tests.harness.testhost import TestHost

__all__ = [
    "Guest",
    "GuestFactory",
    "GuestNic",
    "NetworkFactory",
    "NicSpec",
    "TestHost",
    "TestNetwork",
]
