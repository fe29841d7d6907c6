"""Value kinds of the network format: addresses, MACs, UUIDs, names, as libvirt reads and
writes them."""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidlib

from plugboard.netxml.xmlmodel import Conv


def _ip(text: str) -> str:
    return str(ipaddress.ip_address(text.strip()))


def _ipv4(text: str) -> str:
    return str(ipaddress.IPv4Address(text.strip()))


def _mac(text: str) -> str:
    parts = text.strip().split(":")
    if len(parts) != 6 or not all(re.fullmatch(r"[0-9a-fA-F]{1,2}", p) for p in parts):
        raise ValueError("a MAC address is six hex bytes separated by ':'")
    return ":".join(f"{int(p, 16):02x}" for p in parts)


def _mac_as_given(text: str) -> str:
    _mac(text)
    return text


def _uuid(text: str) -> str:
    return str(uuidlib.UUID(text.strip()))


def _hex(width: int, limit: int):
    def parse(text: str) -> int:
        value = int(text, 0)
        if not 0 <= value <= limit:
            raise ValueError(f"must be 0..{limit:#x}")
        return value

    def fmt(value: int) -> str:
        return f"0x{value:0{width}x}"

    return Conv("hex", parse, fmt, "integer", f"0..{limit:#x}")


IP = Conv("ip", _ip, allowed="an IPv4 or IPv6 address")
IPV4 = Conv("ipv4", _ipv4, allowed="an IPv4 address")
MAC = Conv("mac", _mac, allowed="a MAC address such as 52:54:00:12:34:56")
MAC_AS_GIVEN = Conv("mac", _mac_as_given, allowed="a MAC address such as 52:54:00:12:34:56")
UUID = Conv("uuid", _uuid, allowed="a UUID")
PCI_DOMAIN = _hex(4, 0xFFFF)
PCI_BUS = _hex(2, 0xFF)
PCI_SLOT = _hex(2, 0x1F)
PCI_FUNCTION = _hex(1, 0x7)
