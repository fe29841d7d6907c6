"""Value kinds of the network format: addresses, MACs, UUIDs, names, as libvirt reads and
writes them."""

from __future__ import annotations

import re
import socket
import uuid as uuidlib

from plugboard.netxml.xmlmodel import Conv


def _ipv4(text: str) -> str:
    # inet_pton/inet_ntop: strict parsing, and the form libvirt's getnameinfo() writes.
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text.strip()))
    except OSError:
        raise ValueError(f"'{text}' is not an IPv4 address") from None


def _ip(text: str) -> str:
    text = text.strip()
    if ":" not in text:
        return _ipv4(text)
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
    except OSError:
        raise ValueError(f"'{text}' is not an IPv6 address") from None


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _mac(text: str) -> str:
    if _CANONICAL_MAC.fullmatch(text):
        return text
    parts = text.strip().split(":")
    if len(parts) != 6 or not all(re.fullmatch(r"[0-9a-fA-F]{1,2}", p) for p in parts):
        raise ValueError("a MAC address is six hex bytes separated by ':'")
    return ":".join(f"{int(p, 16):02x}" for p in parts)


def _mac_as_given(text: str) -> str:
    _mac(text)
    return text


def _uuid(text: str) -> str:
    if _CANONICAL_UUID.fullmatch(text):
        return text
    return str(uuidlib.UUID(text.strip()))


def _hex(width: int, limit: int) -> Conv[int]:
    def parse(text: str) -> int:
        value = int(text, 0)
        if not 0 <= value <= limit:
            raise ValueError(f"must be 0..{limit:#x}")
        return value

    def fmt(value: int) -> str:
        return f"0x{value:0{width}x}"

    return Conv("hex", parse, fmt, "integer", f"0..{limit:#x}")


_MAC_PATTERN = (("pattern", r"^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}$"),)
IP = Conv("ip", _ip, allowed="an IPv4 or IPv6 address",
          schema=(("anyOf", [{"format": "ipv4"}, {"format": "ipv6"}]),))  # fmt: skip
IPV4 = Conv("ipv4", _ipv4, allowed="an IPv4 address", schema=(("format", "ipv4"),))
MAC = Conv("mac", _mac, allowed="a MAC address such as 52:54:00:12:34:56", schema=_MAC_PATTERN)
MAC_AS_GIVEN = Conv("mac", _mac_as_given, allowed="a MAC address such as 52:54:00:12:34:56",
                    schema=_MAC_PATTERN)  # fmt: skip
UUID = Conv("uuid", _uuid, allowed="a UUID", schema=(("format", "uuid"),))
PCI_DOMAIN = _hex(4, 0xFFFF)
PCI_BUS = _hex(2, 0xFF)
PCI_SLOT = _hex(2, 0x1F)
PCI_FUNCTION = _hex(1, 0x7)
