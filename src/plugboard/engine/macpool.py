"""The MAC pool: where new vNICs' MACs come from, and the check that a MAC is not in use.

A MAC is "in use" when any vNIC on any registered host has it: plugged (live or in the
persistent definition) or unplugged (in plugboard's metadata). The hosts are asked, not a
copy: libvirt is the truth. Hosts that cannot be reached are skipped, and named in the answer
and the audit log (`unchecked_hosts`).
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugboard.engine import policy
from plugboard.engine.policy import Action
from plugboard.engine.tokens import Principal
from plugboard.errors import (
    HostError,
    InvalidInput,
    MacAddressInUse,
    MacAddressInvalid,
    MacPoolExhausted,
)
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.registry import HostRegistry
from plugboard.store import MacPool
from plugboard.vnic.metadata import NS

log = logging.getLogger(__name__)
MAC_PATTERN = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
MACS = etree.XPath(
    "./devices/interface/mac/@address | ./metadata/p:vnics/p:vnic/p:interface/p:mac/@address",
    namespaces={"p": NS},
)
SCAN_TIMEOUT = 10.0


def check_mac(mac: str) -> str:
    """`mac` in canonical form (lower case), or MAC_ADDRESS_INVALID."""
    if not MAC_PATTERN.fullmatch(mac):
        raise MacAddressInvalid(
            f"'{mac}' is not a MAC address (six hex pairs joined by ':')", field="mac"
        )
    value = int(mac.replace(":", ""), 16)
    if value == 0:
        raise MacAddressInvalid("the all-zero MAC cannot be a NIC's address", field="mac")
    if value >> 40 & 1:
        raise MacAddressInvalid(
            f"'{mac}' is a multicast address (lowest bit of the first byte set); a NIC needs "
            "a unicast MAC",
            field="mac",
        )
    return mac.lower()


def _int(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def _mac(value: int) -> str:
    text = f"{value:012x}"
    return ":".join(text[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True)
class Pool:
    name: str
    ranges: tuple[tuple[str, str], ...]
    allow_duplicates: bool

    @property
    def size(self) -> int:
        return sum(_int(end) - _int(start) + 1 for start, end in self.ranges)


def parse_ranges(ranges: list[str]) -> tuple[tuple[str, str], ...]:
    """ "from-to" strings as checked pairs: unicast, from <= to, not overlapping."""
    parsed = []
    for i, text in enumerate(ranges):
        start, sep, end = text.partition("-")
        if not sep:
            raise InvalidInput(f"range '{text}' must be FROM-TO", field=f"ranges[{i}]")
        try:
            start, end = check_mac(start.strip()), check_mac(end.strip())
        except MacAddressInvalid as err:
            raise InvalidInput(err.detail, field=f"ranges[{i}]") from None
        if _int(start) > _int(end):
            raise InvalidInput(f"range '{text}' ends before it starts", field=f"ranges[{i}]")
        if _int(start) >> 40 != _int(end) >> 40:
            raise InvalidInput(
                f"range '{text}' crosses a first-byte boundary (it would hold multicast MACs)",
                field=f"ranges[{i}]",
            )
        parsed.append((start, end))
    ordered = sorted(parsed, key=lambda r: _int(r[0]))
    for (_, end), (start, _) in itertools.pairwise(ordered):
        if _int(start) <= _int(end):
            raise InvalidInput(f"ranges overlap at {start}", field="ranges")
    if not parsed:
        raise InvalidInput("a pool needs at least one range", field="ranges")
    return tuple(parsed)


def _row(db: Session) -> MacPool:
    return db.scalars(select(MacPool).where(MacPool.name == "default")).one()


def get_pool(db: Session) -> Pool:
    row = _row(db)
    ranges = tuple((a, b) for a, _, b in (line.partition("-") for line in row.ranges.split()))
    return Pool(row.name, ranges, row.allow_duplicates)


def set_pool(db: Session, by: Principal, ranges: list[str], allow_duplicates: bool) -> Pool:
    policy.require(by, Action.ADMIN, "mac-pool")
    row = _row(db)
    row.ranges = "\n".join(f"{a}-{b}" for a, b in parse_ranges(ranges))
    row.allow_duplicates = allow_duplicates
    db.flush()
    return get_pool(db)


@dataclass
class MacScan:
    """The MACs of every vNIC on the hosts that answered, and the hosts that did not."""

    macs: set[str] = field(default_factory=set)
    unchecked_hosts: list[str] = field(default_factory=list)


def macs_in_use(registry: HostRegistry) -> MacScan:
    """Every vNIC MAC on every registered host that answers."""
    scan = MacScan()
    for host in registry.all():
        try:
            scan.macs |= host.call(_macs, timeout=SCAN_TIMEOUT)
        except HostError as err:
            if host.removed:  # its VMs are no longer plugboard's to check
                continue
            log.warning("the MAC check could not ask host %s: %s", host.name, err.detail)
            scan.unchecked_hosts.append(host.name)
    return scan


def _macs(lv: Libvirt) -> set[str]:
    return {mac.lower() for _dom, root in lv.definitions() for mac in MACS(root)}


def check_free(mac: str, pool: Pool, in_use: set[str]) -> None:
    """MAC_ADDRESS_IN_USE unless `mac` is free (or the pool allows duplicates)."""
    if mac in in_use and not pool.allow_duplicates:
        raise MacAddressInUse(
            f"MAC {mac} is used by another vNIC on a registered host; leave mac out to get a "
            "free one from the pool",
            mac=mac,
        )


def allocate(pool: Pool, in_use: set[str]) -> str:
    """The lowest MAC of the pool that no vNIC uses."""
    used = sorted(_int(mac) for mac in in_use)
    for start, end in pool.ranges:
        candidate = _int(start)
        for value in used:
            if value == candidate:
                candidate += 1
            elif value > candidate:
                break
        if candidate <= _int(end):
            return _mac(candidate)
    raise MacPoolExhausted(
        f"every MAC of the pool ({', '.join(f'{a}-{b}' for a, b in pool.ranges)}) is in use; "
        "add a range with `plugboard macpool-set`",
        pool=pool.name,
    )
