"""IP addresses and subnets as integers: what validation needs, a few times faster than the
ipaddress module (parsing is inet_pton's, printing inet_ntop's, as libvirt's own)."""

from __future__ import annotations

import socket
from typing import NamedTuple

_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_BITS = {4: 32, 6: 128}


class Address(NamedTuple):  # a tuple: cheap to make, and validation makes many
    version: int
    value: int

    @classmethod
    def parse(cls, text: str) -> Address:
        version = 6 if ":" in text else 4
        packed = socket.inet_pton(_FAMILY[version], text.strip())  # OSError when invalid
        return cls(version, int.from_bytes(packed, "big"))

    def __str__(self) -> str:
        size = _BITS[self.version] // 8
        return socket.inet_ntop(_FAMILY[self.version], self.value.to_bytes(size, "big"))


class Subnet(NamedTuple):
    version: int
    network: int
    prefixlen: int

    @classmethod
    def of(cls, address: Address, prefixlen: int) -> Subnet:
        host_bits = _BITS[address.version] - prefixlen
        return cls(address.version, address.value >> host_bits << host_bits, prefixlen)

    @property
    def broadcast(self) -> int:
        return self.network | ((1 << (_BITS[self.version] - self.prefixlen)) - 1)

    def holds(self, address: Address) -> bool:
        """Whether `address` is in this subnet (a tuple's `in` asks something else)."""
        return address.version == self.version and self.network <= address.value <= (self.broadcast)

    def __str__(self) -> str:
        return f"{Address(self.version, self.network)}/{self.prefixlen}"


def prefix_of_netmask(text: str) -> int:
    """The prefix length of an IPv4 netmask such as 255.255.255.0 (ValueError if not one)."""
    value = Address.parse(text).value
    inverted = ~value & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(f"{text} is not a netmask")
    return 32 - inverted.bit_length()


def same(a: str | None, b: str | None) -> bool:
    """Two addresses given as text are the same address."""
    return a is not None and b is not None and Address.parse(a) == Address.parse(b)
