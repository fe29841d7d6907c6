"""Connectivity probes of a host network change: an ICMP echo from the host (issue 18).

Written here rather than run as `ping`, because the agent must need nothing on a host but
Python 3 (iputils-ping is not everywhere; it is not on these machines). A raw socket needs
CAP_NET_RAW, which the agent has: it changes the host's network as root."""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import time

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _packet(version: int, ident: int, seq: int) -> bytes:
    payload = b"plugboard-probe"
    header = struct.pack("!BBHHH", ECHO_REQUEST[version], 0, 0, ident, seq)
    if version == 6:  # the kernel fills in ICMPv6's checksum (it covers the IPv6 header)
        return header + payload
    check = _checksum(header + payload)
    return struct.pack("!BBHHH", ECHO_REQUEST[4], 0, check, ident, seq) + payload


def _is_reply(version: int, data: bytes, ident: int, seq: int) -> bool:
    if version == 4:
        data = data[(data[0] & 0x0F) * 4 :]  # a raw IPv4 socket hands over the IP header too
    if len(data) < 8:
        return False
    kind, _code, _check, got_ident, got_seq = struct.unpack("!BBHHH", data[:8])
    return kind == ECHO_REPLY[version] and (got_ident, got_seq) == (ident, seq)


def answers(address: str, timeout: float = 1.0) -> bool:
    """Whether `address` answers one ICMP echo within `timeout` seconds."""
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if ip.version == 4 else socket.IPPROTO_ICMPV6
    ident, seq = os.getpid() & 0xFFFF, int(time.monotonic() * 1000) & 0xFFFF
    try:
        with socket.socket(family, socket.SOCK_RAW, proto) as sock:
            sock.sendto(_packet(ip.version, ident, seq), (str(ip), 0))
            return _wait_reply(sock, ip, ident, seq, time.monotonic() + timeout)
    except OSError:  # no route, network unreachable: it does not answer
        return False


def _wait_reply(sock: socket.socket, ip, ident: int, seq: int, deadline: float) -> bool:
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return False
        data, source = sock.recvfrom(2048)
        if ipaddress.ip_address(source[0].split("%")[0]) == ip and _is_reply(
            ip.version, data, ident, seq
        ):
            return True
    return False
