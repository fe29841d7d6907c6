"""The plan of a host network change: a pure function from the desired state, the current
state and what uses each interface to ordered steps, each with its reason (issue 18).

It refuses, before anything changes, what would break the host or its guests: a loop (a
master inside itself), a port in two masters, removing an interface that a running VM, a
libvirt network or the management address uses (naming them), a VLAN on a missing base, a
port whose MTU is below its master's, and a change of an interface's kind. Interfaces that
the desired state does not mention are left alone.

The order: new devices (a VLAN after its base), ports released from masters they leave, MTUs
(raised ports first, lowered masters first), ports enslaved, settings, addresses, links up or
down, routes; removals last, a VLAN before its base and a master after its ports are free."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the agent runs these without pydantic (desired_plain.py says why)
    from plugboard.hostnet.desired import Interface, NetworkState, Route


@dataclass(frozen=True)
class Step:
    action: str  # create, remove, release, enslave, set-mtu, set, add-address, ...
    interface: str  # the interface (or, for a route, its destination)
    detail: str  # what exactly, in words
    reason: str  # why this step is needed


@dataclass(frozen=True)
class Refusal:
    field: str  # where in the desired state: /interfaces/br0/bridge/ports
    detail: str


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def plan(
    desired: NetworkState,
    current: NetworkState,
    users: Mapping[str, Iterable[str]] | None = None,
    management: Iterable[str] = (),
) -> Plan:
    """The steps from `current` to `desired`. `users`: for each interface, what uses it ("VM
    web1 (running)", "network lab"); `management`: the interfaces that carry the address the
    service reaches the host by."""
    out = Plan()
    users = users or {}
    after = _after(desired, current)
    _refuse(desired, current, after, users, set(management), out)
    if out.refused:
        return out
    now = {i.name: i for i in current.interfaces}
    wanted = [i for i in desired.interfaces if i.state != "absent"]
    gone = [i for i in desired.interfaces if i.state == "absent" and i.name in now]
    _create(wanted, now, out)
    _release(wanted, now, after, out)
    _mtus(wanted, now, after, out)
    _enslave(wanted, now, out)
    _settings(wanted, now, out)
    _addresses(wanted, now, out)
    _links(wanted, now, out)
    _routes(desired.routes, current.routes, out)
    _remove(gone, now, out)
    return out


# --- the state after the change --------------------------------------------------------------
def _after(desired: NetworkState, current: NetworkState) -> dict[str, Interface]:
    """Every interface as it will be: the desired ones over the current ones, less the absent."""
    result = {i.name: i for i in current.interfaces}
    for iface in desired.interfaces:
        if iface.state == "absent":
            result.pop(iface.name, None)
        else:
            result[iface.name] = iface
    return result


def _masters(state: Mapping[str, Interface]) -> dict[str, list[str]]:
    """Each port's masters in `state` (more than one is a refusal)."""
    found: dict[str, list[str]] = {}
    for iface in state.values():
        for port in iface.ports():
            found.setdefault(port, []).append(iface.name)
    return found


# --- refusals --------------------------------------------------------------------------------
def _refuse(
    desired: NetworkState,
    current: NetworkState,
    after: dict[str, Interface],
    users: Mapping[str, Iterable[str]],
    management: set[str],
    out: Plan,
) -> None:
    now = {i.name: i for i in current.interfaces}
    seen: set[str] = set()
    for iface in desired.interfaces:
        where = f"/interfaces/{iface.name}"
        if iface.name in seen:
            out.refusals.append(Refusal(where, f"{iface.name} is named twice"))
        seen.add(iface.name)
        old = now.get(iface.name)
        if old is not None and iface.state != "absent" and old.type != iface.type:
            out.refusals.append(Refusal(f"{where}/type", (
                f"{iface.name} is a {old.type}, not a {iface.type}; remove it first "
                "(state: absent) to make another kind under its name")))  # fmt: skip
        if iface.state == "absent" and old is not None:
            _refuse_removal(iface.name, users, management, out)
        if _leaves_dhcp(iface, old):
            out.refusals.append(Refusal(f"{where}/ipv4/dhcp", (
                f"{iface.name} has its IPv4 address from a DHCP client, which would "
                "renew it: switching to static addresses is not built; stop the client "
                "first")))  # fmt: skip
        if iface.vlan is not None and iface.state != "absent" and iface.vlan.base not in after:
            out.refusals.append(Refusal(f"{where}/vlan/base", (
                f"VLAN {iface.name} is on {iface.vlan.base}, which the host does not have "
                "(and the change does not make)")))  # fmt: skip
        if iface.name in iface.ports():
            out.refusals.append(Refusal(where, f"{iface.name} is a port of itself (a loop)"))
        held = old.ports() if old is not None else []  # taps included: they are not listed
        for port in iface.ports() if iface.state != "absent" else []:
            if port not in after and port not in held and port != iface.name:
                out.refusals.append(Refusal(f"{where}/ports", (
                    f"port {port} of {iface.name} does not exist on the host")))  # fmt: skip
    for port, masters in _masters(after).items():
        if len(masters) > 1:
            out.refusals.append(Refusal(f"/interfaces/{masters[-1]}", (
                f"{port} would be a port of {' and '.join(masters)}: an interface has one "
                "master; take it out of the others")))  # fmt: skip
    _refuse_loops(after, out)
    _refuse_mtus(after, out)


def _leaves_dhcp(iface: Interface, old: Interface | None) -> bool:
    """IPv4 asked static where a DHCP client holds a lease now."""
    was = old.ipv4 if old is not None else None
    asked = iface.ipv4 if iface.state != "absent" else None
    return was is not None and was.dhcp and asked is not None and not asked.dhcp


def _refuse_removal(
    name: str, users: Mapping[str, Iterable[str]], management: set[str], out: Plan
) -> None:
    using = list(users.get(name, ()))
    if using:
        out.refusals.append(Refusal(f"/interfaces/{name}/state", (
            f"{name} is used by {', '.join(using)}; move them first")))  # fmt: skip
    if name in management:
        out.refusals.append(Refusal(f"/interfaces/{name}/state", (
            f"{name} carries the address plugboard reaches this host by; removing it would "
            "cut the host off")))  # fmt: skip


def _refuse_loops(after: dict[str, Interface], out: Plan) -> None:
    """A master reached again by following ports (br0 in bond0 in br0)."""
    for start, master in after.items():
        path, todo = [start], list(master.ports())
        seen = {start}
        while todo:
            port = todo.pop()
            if port == start and len(path) > 1:
                out.refusals.append(Refusal(f"/interfaces/{start}", (
                    f"{start} would be inside itself (a loop through its ports)")))  # fmt: skip
                break
            if port in seen or port not in after:
                continue
            seen.add(port)
            path.append(port)
            todo.extend(after[port].ports())


def _refuse_mtus(after: dict[str, Interface], out: Plan) -> None:
    for master in after.values():
        if master.mtu is None or master.type == "ovs-bridge":
            continue
        for name in master.ports():
            port = after.get(name)
            if port is not None and port.mtu is not None and port.mtu < master.mtu:
                out.refusals.append(Refusal(f"/interfaces/{master.name}/mtu", (
                    f"{master.name}'s MTU {master.mtu} is above its port {name}'s "
                    f"{port.mtu}: raise the port's MTU too")))  # fmt: skip


# --- steps -----------------------------------------------------------------------------------
def _creation_order(wanted: list[Interface], now: Mapping[str, Interface]) -> list[Interface]:
    """New interfaces, each after the VLAN base it needs."""
    new = {i.name: i for i in wanted if i.name not in now}
    ordered: list[Interface] = []
    placed: set[str] = set()

    def place(iface: Interface) -> None:
        if iface.name in placed:
            return
        placed.add(iface.name)
        if iface.vlan is not None and iface.vlan.base in new:
            place(new[iface.vlan.base])
        ordered.append(iface)

    for iface in new.values():
        place(iface)
    return ordered


def _create(wanted: list[Interface], now: Mapping[str, Interface], out: Plan) -> None:
    for iface in _creation_order(wanted, now):
        detail: str = iface.type
        if iface.vlan is not None:
            detail = f"vlan {iface.vlan.id} on {iface.vlan.base}"
        elif iface.bond is not None:
            detail = f"bond, mode {iface.bond.mode}"
        out.steps.append(Step("create", iface.name, detail, f"{iface.name} is new"))


def _release(
    wanted: list[Interface], now: Mapping[str, Interface], after: dict[str, Interface], out: Plan
) -> None:
    for iface in wanted:
        old = now.get(iface.name)
        if old is None:
            continue
        for port in old.ports():
            # a VM's tap (not configured here) stays on its bridge whatever the ports asked
            if port in now and port not in iface.ports():
                going = next((m for m, p in _owner(after, port)), None)
                why = f"it goes to {going}" if going else "the change leaves it out"
                out.steps.append(
                    Step(
                        "release", port, f"from {iface.name}", f"{port} leaves {iface.name}: {why}"
                    )
                )


def _owner(after: dict[str, Interface], port: str) -> list[tuple[str, str]]:
    return [(m.name, port) for m in after.values() if port in m.ports()]


def _mtus(
    wanted: list[Interface], now: Mapping[str, Interface], after: dict[str, Interface], out: Plan
) -> None:
    changes = []
    for iface in wanted:
        old = now.get(iface.name)
        before = old.mtu if old is not None else None
        if iface.mtu is not None and iface.mtu != before:
            changes.append((iface, before))
    is_port = {p for i in after.values() for p in i.ports()}
    # raised: ports first; lowered: masters first (a bridge's MTU is at most its ports')
    raised = [c for c in changes if c[1] is None or c[0].mtu > c[1]]  # type: ignore[operator]
    lowered = [c for c in changes if c not in raised]
    raised.sort(key=lambda c: c[0].name not in is_port)
    lowered.sort(key=lambda c: c[0].name in is_port)
    for iface, before in lowered + raised:
        was = f"{before} -> " if before is not None else ""
        out.steps.append(Step("set-mtu", iface.name, f"mtu {was}{iface.mtu}", "asked"))


def _enslave(wanted: list[Interface], now: Mapping[str, Interface], out: Plan) -> None:
    for iface in wanted:
        old = now.get(iface.name)
        held = old.ports() if old is not None else []
        for port in iface.ports():
            if port not in held:
                out.steps.append(
                    Step("enslave", port, f"to {iface.name}", f"{iface.name} asks for {port}")
                )


def _settings(wanted: list[Interface], now: Mapping[str, Interface], out: Plan) -> None:
    for iface in wanted:
        old = now.get(iface.name)
        if iface.bridge is not None:
            was = old.bridge if old is not None else None
            if was is None or was.stp != iface.bridge.stp:
                out.steps.append(
                    Step("set", iface.name, f"stp {'on' if iface.bridge.stp else 'off'}", "asked")
                )
            if was is None or was.forward_delay != iface.bridge.forward_delay:
                out.steps.append(
                    Step(
                        "set", iface.name, f"forward delay {iface.bridge.forward_delay} s", "asked"
                    )
                )
        if iface.bond is not None:
            was_bond = old.bond if old is not None else None
            if was_bond is None or (was_bond.mode, was_bond.miimon, was_bond.primary) != (
                iface.bond.mode, iface.bond.miimon, iface.bond.primary
            ):  # fmt: skip
                detail = f"mode {iface.bond.mode}, miimon {iface.bond.miimon}"
                if iface.bond.primary:
                    detail += f", primary {iface.bond.primary}"
                out.steps.append(Step("set", iface.name, detail, "asked"))
        if iface.ovs_bridge is not None:
            _ovs_settings(iface, old, out)


def _ovs_settings(iface: Interface, old: Interface | None, out: Plan) -> None:
    """An Open vSwitch bridge's bonds and internal ports (its plain ports are enslaved like a
    Linux bridge's): one step, which the agent carries out as one OVSDB transaction."""
    assert iface.ovs_bridge is not None
    was = old.ovs_bridge if old is not None else None
    asked = (sorted(iface.ovs_bridge.bonds, key=str), sorted(iface.ovs_bridge.internal, key=str))
    had = (sorted(was.bonds, key=str), sorted(was.internal, key=str)) if was else ([], [])
    if asked != had:
        bonds = ", ".join(f"{b.name}({'+'.join(b.ports)})" for b in iface.ovs_bridge.bonds)
        internal = ", ".join(f"{i.name}(tag {i.tag})" for i in iface.ovs_bridge.internal)
        parts = [f"bonds {bonds}" if bonds else "", f"internal {internal}" if internal else ""]
        detail = "; ".join(filter(None, parts)) or "no bonds, no internal ports"
        out.steps.append(Step("set", iface.name, detail, "asked"))


def _addresses(wanted: list[Interface], now: Mapping[str, Interface], out: Plan) -> None:
    for iface in wanted:
        old = now.get(iface.name)
        for family in ("ipv4", "ipv6"):
            asked = getattr(iface, family)
            if asked is None:
                continue  # not mentioned: left alone
            had = getattr(old, family) if old is not None else None
            before = set(had.addresses) if had is not None else set()
            for address in sorted(before - set(asked.addresses)):
                out.steps.append(Step("remove-address", iface.name, address, "not asked for"))
            for address in asked.addresses:
                if address not in before:
                    out.steps.append(Step("add-address", iface.name, address, "asked"))
            if asked.dhcp and not (had is not None and had.dhcp):
                out.steps.append(Step("dhcp", iface.name, family, "asked"))


def _links(wanted: list[Interface], now: Mapping[str, Interface], out: Plan) -> None:
    for iface in wanted:
        old = now.get(iface.name)
        if old is None or old.state != iface.state:
            out.steps.append(Step(f"link-{iface.state}", iface.name, iface.state, "asked"))


def _routes(desired: list[Route], current: list[Route], out: Plan) -> None:
    have = {(r.destination, r.gateway, r.dev) for r in current}
    for route in desired:
        key = (route.destination, route.gateway, route.dev)
        via = f" via {route.gateway}" if route.gateway else ""
        dev = f" dev {route.dev}" if route.dev else ""
        if route.state == "absent" and key in have:
            out.steps.append(
                Step("route-del", route.destination, f"{route.destination}{via}{dev}", "asked")
            )
        elif route.state == "present" and key not in have:
            out.steps.append(
                Step("route-add", route.destination, f"{route.destination}{via}{dev}", "asked")
            )


def _remove(gone: list[Interface], now: Mapping[str, Interface], out: Plan) -> None:
    """Removals: VLANs first (their bases may go too), then the others; a master's ports
    are released (the kernel does it with the master) before it goes."""
    order = sorted(gone, key=lambda i: now[i.name].type != "vlan")
    for iface in order:
        for port in now[iface.name].ports():
            out.steps.append(
                Step("release", port, f"from {iface.name}", f"{iface.name} is removed")
            )
        out.steps.append(Step("remove", iface.name, now[iface.name].type, "state: absent"))
