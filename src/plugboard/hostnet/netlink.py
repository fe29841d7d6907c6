"""Interfaces read over netlink (pyroute2), in the network namespace of the host's libvirtd."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pyroute2 import IPRoute
from pyroute2.netns import setns

from plugboard.hostnet.model import HostInterface

IFF_LOOPBACK = 0x8
# Where libvirt's clients look for the system daemon's socket (modular daemon first).
SYSTEM_SOCKETS = ("/run/libvirt/virtqemud-sock", "/run/libvirt/libvirt-sock")
BOND_MODES = (
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
)
KINDS = {
    "bridge": "bridge",
    "bond": "bond",
    "vlan": "vlan",
    "macvtap": "macvtap",
    "macvlan": "macvlan",
    "veth": "veth",
    "tun": "tap",
    "openvswitch": "ovs-bridge",
}


def daemon_socket(uri: str) -> str | None:
    """The UNIX socket of a libvirt URI that names a daemon on this machine, or None for a
    remote host (or a driver without a daemon, such as test:///)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("qemu", "qemu+unix") or parts.netloc:
        return None
    given = parse_qs(parts.query).get("socket")
    if given:
        return given[0]
    if parts.path.rstrip("/") != "/system":
        return None  # a session daemon: it sees the machine's network as we do
    return next((s for s in SYSTEM_SOCKETS if Path(s).exists()), None)


def daemon_pid(path: str) -> int:
    """The process id of the daemon listening on a UNIX socket (the kernel's peer
    credentials, so no protocol is spoken)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(path)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]


def netns_of(pid: int) -> str | None:
    """The path of a process's network namespace, or None when it is our own."""
    path = f"/proc/{pid}/ns/net"
    if Path(path).stat().st_ino == Path("/proc/self/ns/net").stat().st_ino:
        return None
    return path


def _type(msg, kind: str | None) -> str:
    if msg["flags"] & IFF_LOOPBACK:
        return "loopback"
    if kind is None:
        return "nic"
    return KINDS.get(kind, "other")


@contextlib.contextmanager
def _entered(netns: str | None):
    """This thread in another network namespace for a moment (setns(2) moves the calling
    thread only): a netlink socket opened here belongs to that namespace for good."""
    if netns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(netns, flags=0)
        yield
    finally:
        setns(own, flags=0)
        os.close(own)


FOREVER = 0xFFFFFFFF  # the kernel's infinite address lifetime


def _leased(msg) -> bool:
    """An address with a finite lifetime: a DHCP client's lease (static ones live forever)."""
    info = msg.get("IFA_CACHEINFO")
    return info is not None and info.get("ifa_valid", FOREVER) != FOREVER


def read(netns: str | None) -> list[HostInterface]:
    """Every interface of the namespace (None: ours) with its addresses, ports and parent."""
    with _entered(netns):
        ipr = IPRoute()
    with ipr:
        links = list(ipr.get_links())
        addrs = list(ipr.get_addr())
    names = {msg["index"]: msg.get("ifname") for msg in links}
    by_index: dict[int, HostInterface] = {}
    for msg in links:
        info = msg.get("linkinfo")
        kind = info.get("kind") if info is not None else None
        data = info.get("data") if info is not None else None
        iface = HostInterface(
            name=msg.get("ifname"),
            type=_type(msg, kind),
            state=(msg.get("operstate") or "unknown").lower(),
            mac=msg.get("address"),
            mtu=msg.get("mtu"),
            master=names.get(msg.get("master")),
        )
        if kind in ("vlan", "macvtap", "macvlan"):
            iface.parent = names.get(msg.get("link"))
        if kind == "vlan" and data is not None:
            iface.vlan_id = data.get("IFLA_VLAN_ID")
        if kind in ("macvtap", "macvlan") and data is not None:
            iface.mode = data.get(f"IFLA_{kind.upper()}_MODE")
        if kind == "bond" and data is not None:
            mode = data.get("IFLA_BOND_MODE")
            iface.mode = BOND_MODES[mode] if mode in range(len(BOND_MODES)) else None
        by_index[msg["index"]] = iface
    for msg in links:
        master = by_index.get(msg.get("master"))
        if master is not None:
            master.ports.append(msg.get("ifname"))
    for msg in addrs:
        owner = by_index.get(msg["index"])
        if owner is not None:
            cidr = f"{msg.get('address')}/{msg['prefixlen']}"
            owner.addresses.append(cidr)
            if msg["family"] == socket.AF_INET and _leased(msg):
                owner.leased.append(cidr)
    return sorted(by_index.values(), key=lambda i: i.name)
