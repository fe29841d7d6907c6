"""A confirmed host network change written in Debian's own format (issue 18, item 6), so the
host comes back the same after a reboot: ifupdown's `interfaces.d/plugboard`, holding only
what plugboard manages.

What plugboard manages is every interface named in a confirmed change, as the host had it
when the change was confirmed (its ports, settings and addresses read back, not only what the
change said), and the routes the changes asked for. The file's first line keeps that set as
JSON, so a later change merges into it rather than forgets it: the file is its own state, and
a person who deletes it makes plugboard forget.

Open vSwitch keeps its bridges in its own database (OVSDB persists on disk), so an OVS
bridge is named in a comment and nothing else is written for it. The functions here are pure
but `confirmed`, which reads and writes the files; the agent calls it on the host, where the
files are (see plugboard.hostnet.agent). So it needs only the standard library: a remote host
runs it from the agent's archive, without pydantic (plugboard.hostnet.ship).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from plugboard.hostnet.checkpoint import CONFIGURABLE, Link, Snapshot
from plugboard.hostnet.netlink import BOND_MODES

HEADER = "# plugboard-managed: "
FILE = "interfaces.d/plugboard"


@dataclass
class Written:
    path: str | None
    warnings: list[str] = field(default_factory=list)


# --- the managed set, as plain values ---------------------------------------------------------
# plugboard.hostnet.desired's models as the writer needs them: the same fields, names and
# defaults, as dataclasses. Why not the models: the writer runs in the agent, which a remote
# host gets as an archive without pydantic (plugboard.hostnet.ship). The service validated the
# state it sent; tests/unit/test_hostnet_persist.py holds these fields to the models'.
V = TypeVar("V", bound="Value")


class Value:
    """A dataclass read from and written to the JSON pydantic gives: `NESTED` names the
    fields that hold other values (or lists of them)."""

    NESTED: ClassVar[dict[str, type[Value]]] = {}

    @classmethod
    def load(cls: type[V], raw: Any) -> V:
        """From JSON (missing fields take their defaults); ValueError or TypeError when it
        is not one."""
        if not isinstance(raw, dict):
            raise ValueError(f"{cls.__name__}: an object expected, not {raw!r}")
        return cls(**{k: _load(cls.NESTED.get(k), v) for k, v in raw.items()})

    def lean(self) -> dict[str, Any]:
        """Its JSON without the fields that have their default (pydantic's exclude_defaults)."""
        found = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            default = f.default if f.default_factory is MISSING else f.default_factory()
            if value != default:
                found[f.name] = _lean(value)
        return found


def _load(kind: type[Value] | None, value: Any) -> Any:
    if kind is None or value is None:
        return value
    if isinstance(value, list):
        return [kind.load(v) for v in value]
    return kind.load(value)


def _lean(value: Any) -> Any:
    if isinstance(value, list):
        return [_lean(v) for v in value]
    return value.lean() if isinstance(value, Value) else value


@dataclass(frozen=True)
class Addresses(Value):
    dhcp: bool = False
    addresses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BridgeSettings(Value):
    ports: list[str] = field(default_factory=list)
    stp: bool = False
    forward_delay: int = 15


@dataclass(frozen=True)
class VlanSettings(Value):
    base: str
    id: int


@dataclass(frozen=True)
class BondSettings(Value):
    mode: str = "active-backup"  # one of netlink.BOND_MODES
    miimon: int = 100
    ports: list[str] = field(default_factory=list)
    primary: str | None = None


@dataclass(frozen=True)
class OvsBond(Value):
    name: str
    ports: list[str]


@dataclass(frozen=True)
class OvsInternal(Value):
    name: str
    tag: int | None = None


@dataclass(frozen=True)
class OvsSettings(Value):
    NESTED: ClassVar[dict[str, type[Value]]] = {"bonds": OvsBond, "internal": OvsInternal}
    datapath_type: str | None = None
    ports: list[str] = field(default_factory=list)
    bonds: list[OvsBond] = field(default_factory=list)
    internal: list[OvsInternal] = field(default_factory=list)


@dataclass(frozen=True)
class Interface(Value):
    NESTED: ClassVar[dict[str, type[Value]]] = {
        "ipv4": Addresses, "ipv6": Addresses, "bridge": BridgeSettings, "vlan": VlanSettings,
        "bond": BondSettings, "ovs_bridge": OvsSettings,
    }  # fmt: skip
    name: str
    type: str
    state: str = "up"
    mtu: int | None = None
    ipv4: Addresses | None = None
    ipv6: Addresses | None = None
    bridge: BridgeSettings | None = None
    vlan: VlanSettings | None = None
    bond: BondSettings | None = None
    ovs_bridge: OvsSettings | None = None


@dataclass(frozen=True)
class Route(Value):
    destination: str
    gateway: str | None = None
    dev: str | None = None
    state: Literal["present", "absent"] = "present"


@dataclass(frozen=True)
class NetworkState(Value):
    NESTED: ClassVar[dict[str, type[Value]]] = {"interfaces": Interface, "routes": Route}
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)


# --- what was confirmed -----------------------------------------------------------------------
def as_confirmed(desired: NetworkState, snap: Snapshot) -> NetworkState:
    """The interfaces the change named, as the host has them now (an absent one stays
    absent, so that `merge` forgets it), and the change's routes."""
    found = []
    for iface in desired.interfaces:
        link = snap.links.get(iface.name)
        if iface.state == "absent" or link is None or iface.type == "ovs-bridge":
            found.append(iface)
        else:
            found.append(_read_back(iface, link, snap))
    return NetworkState(interfaces=found, routes=desired.routes)


def _read_back(iface: Interface, link: Link, snap: Snapshot) -> Interface:
    ports = sorted(n for n, lk in snap.links.items()
                   if lk.master == iface.name and lk.kind in CONFIGURABLE)  # fmt: skip
    s = link.settings
    return Interface(
        name=iface.name, type=iface.type, state="up" if link.up else "down", mtu=link.mtu,
        ipv4=_family(iface.ipv4, [a for a in link.addresses if ":" not in a]),
        ipv6=_family(iface.ipv6, [a for a in link.addresses if ":" in a]),
        bridge=BridgeSettings(ports=ports, stp=bool(s.get("stp_state")),
                              forward_delay=min(30, max(2, (s.get("forward_delay") or 0) // 100)))
        if iface.type == "bridge" else None,
        bond=BondSettings(ports=ports, mode=_bond_mode(s.get("mode")),
                          miimon=s.get("miimon") or 0,
                          primary=iface.bond.primary if iface.bond else None)
        if iface.type == "bond" else None,
        vlan=VlanSettings(base=s["base"], id=s["id"])
        if iface.type == "vlan" and s.get("base") and s.get("id") else None,
    )  # fmt: skip


def _family(asked: Addresses | None, have: list[str]) -> Addresses | None:
    """DHCP as asked (a lease is no static address); else the addresses the host has."""
    if asked is not None and asked.dhcp:
        return Addresses(dhcp=True)
    return Addresses(addresses=sorted(have)) if have else None


def _bond_mode(mode: int | None) -> str:
    if mode is None or mode not in range(len(BOND_MODES)):
        return "active-backup"
    return BOND_MODES[mode]


def merge(managed: NetworkState, confirmed: NetworkState) -> NetworkState:
    """What plugboard manages after a confirmed change: its interfaces replace (or, absent,
    remove) those of the same name; its routes are added (or, absent, removed)."""
    interfaces = {i.name: i for i in managed.interfaces}
    for iface in confirmed.interfaces:
        interfaces.pop(iface.name, None)
        if iface.state != "absent":
            interfaces[iface.name] = iface
    routes = {_key(r): r for r in managed.routes}
    for route in confirmed.routes:
        routes.pop(_key(route), None)
        if route.state == "present":
            routes[_key(route)] = route
    return NetworkState(interfaces=list(interfaces.values()), routes=list(routes.values()))


def _key(route: Route) -> tuple:
    return route.destination, route.gateway, route.dev


def managed_in(text: str) -> NetworkState:
    """The managed set the file's first line keeps (empty for no file or a foreign one)."""
    first = text.split("\n", 1)[0]
    if not first.startswith(HEADER):
        return NetworkState()
    try:
        return NetworkState.load(json.loads(first.removeprefix(HEADER)))
    except (ValueError, TypeError):
        return NetworkState()


# --- ifupdown's format ------------------------------------------------------------------------
def render(managed: NetworkState) -> tuple[str, list[str]]:
    """The file's text, and the warnings (routes with no managed interface to hang on)."""
    state = json.dumps(managed.lean(), sort_keys=True)
    lines = [HEADER + state,
             "# Written by plugboard when a host network change is confirmed; changes made",
             "# here by hand are lost at the next one. The line above is what plugboard manages.",
             ""]  # fmt: skip
    routes, warnings = _routes_by_dev(managed)
    for iface in sorted(managed.interfaces, key=lambda i: i.name):
        lines += [*_stanzas(iface, routes.get(iface.name, [])), ""]
    return "\n".join(lines), warnings


def _stanzas(iface: Interface, routes: list[str]) -> list[str]:
    if iface.type == "ovs-bridge":
        return [f"# {iface.name}: an Open vSwitch bridge; Open vSwitch keeps it in its own "
                "database (OVSDB), nothing to write here"]  # fmt: skip
    v4 = iface.ipv4 or Addresses()
    method = "dhcp" if v4.dhcp else "static" if v4.addresses else "manual"
    lines = [f"auto {iface.name}"] if iface.state == "up" else []
    lines += [f"iface {iface.name} inet {method}"] + [f"    {o}" for o in _options(iface)]
    lines += [f"    address {v4.addresses[0]}"] if method == "static" else []
    lines += [f"    up ip route add {r}" for r in routes]
    for extra in v4.addresses[1:] if method == "static" else []:
        lines += [f"iface {iface.name} inet static", f"    address {extra}"]
    v6 = iface.ipv6 or Addresses()
    if v6.dhcp:
        lines.append(f"iface {iface.name} inet6 dhcp")
    for address in [] if v6.dhcp else v6.addresses:
        lines += [f"iface {iface.name} inet6 static", f"    address {address}"]
    return lines


def _options(iface: Interface) -> list[str]:
    found = []
    if iface.bridge is not None:
        found += [f"bridge_ports {' '.join(iface.bridge.ports) or 'none'}",
                  f"bridge_stp {'on' if iface.bridge.stp else 'off'}",
                  f"bridge_fd {iface.bridge.forward_delay}"]  # fmt: skip
    if iface.vlan is not None:
        found.append(f"vlan-raw-device {iface.vlan.base}")
    if iface.bond is not None:
        found += [f"bond-slaves {' '.join(iface.bond.ports) or 'none'}",
                  f"bond-mode {iface.bond.mode}", f"bond-miimon {iface.bond.miimon}"]  # fmt: skip
        found += [f"bond-primary {iface.bond.primary}"] if iface.bond.primary else []
    return found + ([f"mtu {iface.mtu}"] if iface.mtu is not None else [])


def _routes_by_dev(managed: NetworkState) -> tuple[dict[str, list[str]], list[str]]:
    """Each route under the interface it leaves by: its dev, or the managed interface whose
    address's network holds its gateway."""
    found: dict[str, list[str]] = {}
    warnings = []
    names = {i.name for i in managed.interfaces if i.type != "ovs-bridge"}
    for route in managed.routes:
        dev = route.dev if route.dev in names else _dev_of(managed, route.gateway)
        words = route.destination + (f" via {route.gateway}" if route.gateway else "")
        if dev is None:
            warnings.append(f"route {words} is not written: no interface plugboard manages "
                            "carries it (name its dev, one that a change configured)")  # fmt: skip
            continue
        found.setdefault(dev, []).append(f"{words} dev {dev}")
    return found, warnings


def _dev_of(managed: NetworkState, gateway: str | None) -> str | None:
    if gateway is None:
        return None
    for iface in managed.interfaces:
        for family in (iface.ipv4, iface.ipv6):
            for cidr in family.addresses if family is not None else []:
                net = ipaddress.ip_interface(cidr).network
                if ipaddress.ip_address(gateway) in net:
                    return iface.name
    return None


# --- /etc/network/interfaces ------------------------------------------------------------------
def sources(text: str, etc_dir: Path, target: Path) -> bool:
    """Whether an interfaces file (in `etc_dir`) reads `target`: a `source` pattern that
    matches it or a `source-directory` of its directory (paths relative to `etc_dir`)."""
    for line in text.splitlines():
        words = line.split()
        if len(words) != 2 or words[0] not in ("source", "source-directory"):
            continue
        path = str(etc_dir / words[1])  # an absolute words[1] stays as it is
        if words[0] == "source" and fnmatch.fnmatch(str(target), path):
            return True
        if words[0] == "source-directory" and fnmatch.fnmatch(str(target.parent), path.rstrip("/")):
            return True
    return False


def _source_warning(etc_dir: Path, target: Path) -> list[str]:
    main = etc_dir / "interfaces"
    try:
        text = main.read_text()
    except OSError:
        return [f"{main} does not exist: ifupdown will not read {target} at boot"]
    if sources(text, etc_dir, target):
        return []
    where = target.parent
    return [f"{main} does not source {where} (add 'source {where}/*' or "
            f"'source-directory {where}'): ifupdown will not read {target} at boot"]  # fmt: skip


def confirmed(desired: dict[str, Any], snap: Snapshot, etc_dir: Path) -> Written:
    """Merge the confirmed change (`desired`: its NetworkState's JSON, as the service sent it)
    into `etc_dir`/interfaces.d/plugboard (written atomically: a reboot in the middle finds
    the old file or the new one); never raises: a change that was confirmed stays confirmed,
    and a failure to write it is a warning."""
    target = etc_dir / FILE
    try:
        old = target.read_text() if target.exists() else ""
        managed = merge(managed_in(old), as_confirmed(NetworkState.load(desired), snap))
        text, warnings = render(managed)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(".plugboard.tmp")
        tmp.write_text(text)
        tmp.replace(target)
    except (OSError, ValueError, TypeError) as err:
        return Written(None, [f"the change is kept but was not written to {target}: {err}"])
    return Written(str(target), warnings + _source_warning(etc_dir, target))
