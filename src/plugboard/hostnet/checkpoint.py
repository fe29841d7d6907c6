"""A checkpoint of a host's network namespace, and the pure functions around it (issue 18):
the differences between two snapshots, the operations that bring the host back to a
snapshot (rollback), and the check of a snapshot against the desired state (verify).

A snapshot holds every link's kind, admin state, MTU, master, MAC and kind settings, its
addresses, and the main table's routes: all of it, not only what the plan names, because a
change to a bridge moves what hangs on it (a VM's tap leaves a bridge that is removed and
made again), and rollback must put those back too. Reading one is netlink
(plugboard.hostnet.netops); everything here works on plain values, so it is unit-tested.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the agent runs these without pydantic (desired_plain.py says why)
    from plugboard.hostnet.desired import Interface, NetworkState


# Kinds plugboard configures (state_of's); other ports of a bridge (VM taps) stay as they are.
CONFIGURABLE = ("", "veth", "bridge", "vlan", "bond", "openvswitch")
# Kinds rollback can make again when a change removed them (a veth or NIC cannot be).
REMAKEABLE = ("bridge", "vlan", "bond")
RTPROT_KERNEL = 2  # a route the kernel made for an address: it comes back with the address


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # netlink's IFLA_INFO_KIND; "" for a NIC
    up: bool  # IFF_UP, the admin state (operstate says carrier, not what was asked)
    mtu: int
    master: str | None = None
    mac: str | None = None
    # bridge: stp_state, forward_delay (centiseconds); bond: mode, miimon; vlan: id, base
    settings: dict[str, Any] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()  # CIDR, sorted; not the kernel's IPv6 link-local ones


@dataclass(frozen=True, order=True)
class RouteEntry:
    destination: str  # CIDR (0.0.0.0/0 for the default route)
    gateway: str | None = None
    dev: str | None = None
    metric: int | None = None
    proto: int = 4  # RTPROT_STATIC
    scope: int = 0

    def words(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        dev = f" dev {self.dev}" if self.dev else ""
        return f"{self.destination}{via}{dev}"


@dataclass(frozen=True)
class Snapshot:
    links: dict[str, Link]
    routes: tuple[RouteEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"links": [asdict(v) for v in self.links.values()],
                "routes": [asdict(r) for r in self.routes]}  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Snapshot:
        links = {}
        for item in raw["links"]:
            links[item["name"]] = Link(**(item | {"addresses": tuple(item["addresses"])}))
        return cls(links, tuple(RouteEntry(**r) for r in raw["routes"]))


@dataclass(frozen=True)
class Op:
    """One netlink operation of a rollback: `action` on `name` with `value`."""

    action: str  # delete, nomaster, create, mtu, master, bridge, bond, mac, del-addr, ...
    name: str
    value: Any = None


# --- differences --------------------------------------------------------------------------
def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs from `before` to `after`, one line each (what a person reads)."""
    lines = [f"{n}: removed" for n in before.links if n not in after.links]
    lines += [f"{n}: added ({after.links[n].kind or 'nic'})"
              for n in after.links if n not in before.links]  # fmt: skip
    for name, old in before.links.items():
        new = after.links.get(name)
        if new is not None:
            lines += _link_diff(old, new)
    lines += [f"route {r.words()}: removed" for r in sorted(set(before.routes) - set(after.routes))]
    lines += [f"route {r.words()}: added" for r in sorted(set(after.routes) - set(before.routes))]
    return lines


def _link_diff(old: Link, new: Link) -> list[str]:
    lines = []
    for key in ("kind", "up", "mtu", "master", "mac"):
        was, now = getattr(old, key), getattr(new, key)
        if was != now:
            lines.append(f"{old.name}: {key} {was} -> {now}")
    for key in sorted(set(old.settings) | set(new.settings)):
        if old.settings.get(key) != new.settings.get(key):
            lines.append(f"{old.name}: {key} {old.settings.get(key)} -> {new.settings.get(key)}")
    for address in sorted(set(old.addresses) - set(new.addresses)):
        lines.append(f"{old.name}: address {address} removed")
    for address in sorted(set(new.addresses) - set(old.addresses)):
        lines.append(f"{old.name}: address {address} added")
    return lines


# --- rollback -----------------------------------------------------------------------------
def undo(before: Snapshot, now: Snapshot, created: set[str]) -> list[Op]:
    """The operations from `now` back to `before`, in an order the kernel accepts.

    `created`: what the change made. Only those are deleted: a link that appeared since the
    checkpoint for another reason (a VM started meanwhile and got its tap) is not ours."""
    made = [n for n in sorted(created) if n in now.links and n not in before.links]
    ops = [Op("delete", n) for n in sorted(made, key=lambda n: -_depth(now.links, n))]
    gone = set(made)
    kept = {n: link for n, link in now.links.items() if n not in gone}
    # what can be had back: what is still there, and the kinds that can be made again
    back = {n: link for n, link in before.links.items() if n in kept or link.kind in REMAKEABLE}
    moved = [n for n, link in kept.items() if link.master != _master(before.links, n)]
    ops += [Op("nomaster", n) for n in moved if kept[n].master not in (None, *gone)]
    ops += [Op("create", n, asdict(link)) for n, link in back.items() if n not in kept]
    ops += _settings(back, kept)
    ops += [Op("master", n, link.master) for n, link in back.items()
            if link.master is not None and _master(kept, n) != link.master]  # fmt: skip
    # after the masters: enslaving changes MTUs (a bond sets its ports', a bridge follows them)
    ops += _mtus(back, kept) + _macs(back, kept)
    ops += _addresses(back, kept)
    ops += [Op("up" if link.up else "down", n) for n, link in back.items()
            if n not in kept or kept[n].up != link.up]  # fmt: skip
    return ops


def _depth(links: dict[str, Link], name: str) -> int:
    """How many devices `name` is stacked on (a VLAN on a bond: 1). Deleted deepest first: the
    kernel deletes a VLAN with its base, and deleting it after would find no such interface."""
    seen = [name]
    while (base := links[seen[-1]].settings.get("base")) in links and base not in seen:
        seen.append(base)
    return len(seen) - 1


def _master(links: dict[str, Link], name: str) -> str | None:
    link = links.get(name)
    return link.master if link is not None else None


def _mtus(back: dict[str, Link], kept: dict[str, Link]) -> list[Op]:
    """Lowered MTUs masters first, raised ones ports first (a VLAN's MTU is at most its
    base's, a bond sets its ports'); a link made again gets its MTU here too."""
    changes = [(n, link.mtu, kept[n].mtu if n in kept else None)
               for n, link in back.items()
               if n not in kept or kept[n].mtu != link.mtu]  # fmt: skip
    masters = {link.master for link in back.values()} | {
        str(link.settings.get("base")) for link in back.values() if link.kind == "vlan"
    }
    lowered = sorted((c for c in changes if c[2] is not None and c[1] < c[2]),
                     key=lambda c: c[0] not in masters)  # fmt: skip
    raised = sorted((c for c in changes if c not in lowered), key=lambda c: c[0] in masters)
    return [Op("mtu", n, mtu) for n, mtu, _ in lowered + raised]


def _settings(back: dict[str, Link], kept: dict[str, Link]) -> list[Op]:
    ops = []
    for name, link in back.items():
        now = kept.get(name)
        if link.kind in ("bridge", "bond") and (now is None or now.settings != link.settings):
            ops.append(Op(link.kind, name, dict(link.settings)))
    return ops


def _macs(back: dict[str, Link], kept: dict[str, Link]) -> list[Op]:
    """A bridge takes a port's MAC unless one was set: put back the one it had (after the
    ports are back, which is when the kernel picks one)."""
    return [Op("mac", n, link.mac) for n, link in back.items() if link.kind == "bridge"
            and link.mac and (n not in kept or kept[n].mac != link.mac)]  # fmt: skip


def _addresses(back: dict[str, Link], kept: dict[str, Link]) -> list[Op]:
    ops = []
    for name, now in kept.items():
        old = back.get(name)
        if old is not None:
            ops += [Op("del-addr", name, a) for a in now.addresses if a not in old.addresses]
    for name, old in back.items():
        had = kept[name].addresses if name in kept else ()
        ops += [Op("add-addr", name, a) for a in old.addresses if a not in had]
    return ops


def route_fixes(before: tuple[RouteEntry, ...], now: tuple[RouteEntry, ...]) -> list[Op]:
    """Routes back as they were, once the links and addresses are: the added ones deleted,
    the lost ones added (not the kernel's own, which came back with their addresses)."""
    ops = [Op("route-del", r.destination, asdict(r)) for r in now if r not in before]
    ops += [Op("route-add", r.destination, asdict(r)) for r in before
            if r not in now and r.proto != RTPROT_KERNEL]  # fmt: skip
    return ops


# --- verify -------------------------------------------------------------------------------
def verify(desired: NetworkState, snap: Snapshot) -> list[str]:
    """Where the host, read back, is not what was asked; empty when it is."""
    wrong: list[str] = []
    for iface in desired.interfaces:
        link = snap.links.get(iface.name)
        if iface.state == "absent":
            if link is not None:
                wrong.append(f"{iface.name}: still there, asked absent")
        elif link is None:
            wrong.append(f"{iface.name}: missing")
        else:
            wrong += _verify_link(iface, link, snap)
    wrong += _verify_routes(desired, snap)
    return wrong


def _verify_link(iface: Interface, link: Link, snap: Snapshot) -> list[str]:
    wrong = []
    if link.up != (iface.state == "up"):
        wrong.append(f"{iface.name}: {'up' if link.up else 'down'}, asked {iface.state}")
    if iface.mtu is not None and link.mtu != iface.mtu:
        wrong.append(f"{iface.name}: mtu {link.mtu}, asked {iface.mtu}")
    for family, on in (("ipv4", lambda a: ":" not in a), ("ipv6", lambda a: ":" in a)):
        asked = getattr(iface, family)
        have = sorted(a for a in link.addresses if on(a))
        if asked is not None:
            wrong += _verify_addresses(iface.name, family, asked, have)
    if iface.type != "ovs-bridge":  # OVS ports have no kernel master: OVSDB is read instead
        wrong += _verify_ports(iface, snap)
    if iface.bridge is not None:
        wrong += _verify_bridge(iface, link)
    return wrong


def _verify_addresses(name: str, family: str, asked: Any, have: list[str]) -> list[str]:
    """With DHCP: the static addresses asked for and at least one more (the lease's, whatever
    the server handed out); without: exactly those asked for."""
    static = sorted(asked.addresses)
    if not asked.dhcp:
        return [f"{name}: {family} {have}, asked {static}"] if have != static else []
    wrong = [f"{name}: {family} {a} missing" for a in static if a not in have]
    if not set(have) - set(static):
        wrong.append(f"{name}: {family} has no address from DHCP")
    return wrong


def _verify_ports(iface: Interface, snap: Snapshot) -> list[str]:
    asked = set(iface.ports())
    have = {n for n, link in snap.links.items() if link.master == iface.name}
    ours = {n for n in have if snap.links[n].kind in CONFIGURABLE}  # not the VMs' taps
    wrong = [f"{iface.name}: port {p} missing" for p in sorted(asked - have)]
    return wrong + [f"{iface.name}: port {p} not asked for" for p in sorted(ours - asked)]


def _verify_bridge(iface: Interface, link: Link) -> list[str]:
    assert iface.bridge is not None
    wrong = []
    if bool(link.settings.get("stp_state")) != iface.bridge.stp:
        wrong.append(
            f"{iface.name}: stp {link.settings.get('stp_state')}, asked {iface.bridge.stp}"
        )
    if link.settings.get("forward_delay") != iface.bridge.forward_delay * 100:
        wrong.append(f"{iface.name}: forward delay {link.settings.get('forward_delay')} cs, "
                     f"asked {iface.bridge.forward_delay} s")  # fmt: skip
    return wrong


def _verify_routes(desired: NetworkState, snap: Snapshot) -> list[str]:
    wrong = []
    for route in desired.routes:
        found = [r for r in snap.routes if r.destination == route.destination
                 and (route.gateway is None or r.gateway == route.gateway)
                 and (route.dev is None or r.dev == route.dev)]  # fmt: skip
        if route.state == "present" and not found:
            wrong.append(f"route {route.destination}: missing")
        if route.state == "absent" and found:
            wrong.append(f"route {route.destination}: still there, asked absent")
    return wrong


def mentioned(desired: NetworkState, snap: Snapshot) -> dict[str, Any]:
    """The links the desired state names, as the host has them (a failure's `current`)."""
    names = {i.name for i in desired.interfaces}
    return {n: asdict(link) for n, link in snap.links.items() if n in names}
