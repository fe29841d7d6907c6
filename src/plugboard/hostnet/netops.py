"""The netlink side of applying a host network change (issue 18): read a snapshot of the
namespace, carry out a plan's steps and a rollback's operations (pyroute2, in the calling
process's network namespace: the agent has entered the host's before it gets here).

An IPv4 `dhcp` step starts a DHCP client program on the interface (`start_dhcp`, below); the
agent does those last, once the links are up. DHCPv6 is not carried out yet: `unsupported`
names it, so the agent refuses such a plan before it changes anything. Open vSwitch bridges are
made, changed and removed in OVSDB (plugboard.hostnet.ovsops); `by_ovs` names the steps that
are done there.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyroute2 import IPRoute

from plugboard.hostnet.checkpoint import Link, Op, RouteEntry, Snapshot
from plugboard.hostnet.netlink import BOND_MODES
from plugboard.hostnet.plan import Step

if TYPE_CHECKING:  # the agent runs these without pydantic (desired_plain.py says why)
    from plugboard.hostnet.desired import Interface, NetworkState

IFF_UP = 0x1
MAIN_TABLE = 254
# netlink's route types and protocols that are not configuration: local/broadcast addresses,
# IPv6 multicast, and the routes of the kernel's own link-local addresses.
RTN_UNICAST = 1


class StepFailed(RuntimeError):
    """A step or a rollback operation the kernel refused; says which and why."""


# --- reading ------------------------------------------------------------------------------
def snapshot(ipr: IPRoute) -> Snapshot:
    """Every link with its settings and addresses, and the main table's unicast routes."""
    msgs = list(ipr.get_links())
    names = {m["index"]: m.get("ifname") for m in msgs}
    addresses: dict[int, list[str]] = {}
    for msg in ipr.get_addr():
        cidr = f"{msg.get('address')}/{msg['prefixlen']}"
        if not ipaddress.ip_interface(cidr).is_link_local:  # the kernel's own (fe80::/64)
            addresses.setdefault(msg["index"], []).append(cidr)
    links = {}
    for msg in msgs:
        link = _link(msg, names, tuple(sorted(addresses.get(msg["index"], []))))
        links[link.name] = link
    return Snapshot(links, tuple(sorted(_routes(ipr, names))))


def _link(msg: Any, names: dict[int, str], addresses: tuple[str, ...]) -> Link:
    info = msg.get("linkinfo")
    kind = (info.get("kind") if info is not None else None) or ""
    data = info.get("data") if info is not None else None
    return Link(
        name=msg.get("ifname"),
        kind=kind,
        up=bool(msg["flags"] & IFF_UP),
        mtu=msg.get("mtu"),
        master=names.get(msg.get("master")),
        mac=msg.get("address"),
        settings=_settings(kind, data, names, msg),
        addresses=addresses,
    )


def _settings(kind: str, data: Any, names: dict[int, str], msg: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if kind == "bridge":
        return {"stp_state": data.get("IFLA_BR_STP_STATE"),
                "forward_delay": data.get("IFLA_BR_FORWARD_DELAY")}  # fmt: skip
    if kind == "bond":
        return {"mode": data.get("IFLA_BOND_MODE"), "miimon": data.get("IFLA_BOND_MIIMON")}
    if kind == "vlan":
        return {"id": data.get("IFLA_VLAN_ID"), "base": names.get(msg.get("link"))}
    return {}


def _routes(ipr: IPRoute, names: dict[int, str]) -> list[RouteEntry]:
    found = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_routes(family=family, table=MAIN_TABLE):
            if msg["type"] != RTN_UNICAST or _link_local(msg):
                continue
            zero = "0.0.0.0" if family == socket.AF_INET else "::"
            found.append(RouteEntry(
                destination=f"{msg.get('dst') or zero}/{msg['dst_len']}",
                gateway=msg.get("gateway"), dev=names.get(msg.get("oif")),
                metric=msg.get("priority"), proto=msg["proto"], scope=msg["scope"],
            ))  # fmt: skip
    return found


def _link_local(msg: Any) -> bool:
    dst = msg.get("dst")
    return dst is not None and ipaddress.ip_address(dst).is_link_local


def index(ipr: IPRoute, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise StepFailed(f"{name}: no such interface")
    return int(found[0])


# --- a plan's steps -----------------------------------------------------------------------
def unsupported(steps: list[Step], desired: NetworkState) -> list[str]:
    """The steps this agent cannot carry out, in words (checked before anything changes)."""
    asked = [s for s in steps if s.action == "dhcp"]
    refused = [f"dhcp {s.interface}: DHCPv6 is not applied yet (only IPv4's DHCP is)"
               for s in asked if s.detail == "ipv6"]  # fmt: skip
    if any(s.detail == "ipv4" for s in asked) and dhcp_program() is None:
        refused.append("dhcp: this host has no DHCP client (dhclient, or busybox's udhcpc)")
    return refused


def by_ovs(step: Step, desired: NetworkState) -> bool:
    """Whether a step is carried out in OVSDB, as part of its Open vSwitch bridge's
    transaction: the bridge's making and removal, its ports' joining and leaving (a port of
    an OVS bridge has no kernel master on the userspace datapath)."""
    if step.action in ("create", "remove", "set"):
        return _is_ovs(desired, step.interface)
    if step.action == "enslave":
        master = next((i for i in desired.interfaces if step.interface in i.ports()), None)
        return master is not None and master.type == "ovs-bridge"
    if step.action == "release":  # its detail names the master it leaves: "from br0"
        return _is_ovs(desired, step.detail.removeprefix("from "))
    return False


def _is_ovs(desired: NetworkState, name: str) -> bool:
    found = desired.find(name)
    return found is not None and found.type == "ovs-bridge"


def wait_for_link(ipr: IPRoute, name: str, timeout: float = 5.0) -> None:
    """ovs-vswitchd makes a bridge's kernel device once it has carried a transaction out,
    and a moment after it says so on the userspace datapath (a tap it opens)."""
    deadline = time.monotonic() + timeout
    while not ipr.link_lookup(ifname=name):
        if time.monotonic() > deadline:
            raise StepFailed(f"{name}: Open vSwitch did not make its device in {timeout:g} s")
        time.sleep(0.02)


def apply_step(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    """One step of a plan; the values come from the desired state (the step's words are
    for people)."""
    action = STEPS.get(step.action)
    if action is None:
        raise StepFailed(f"{step.action} {step.interface}: not a step this agent knows")
    try:
        action(ipr, step, desired)
    except StepFailed:
        raise
    except Exception as err:  # NetlinkError, OSError: the kernel's word, with the step
        raise StepFailed(f"{step.action} {step.interface} ({step.detail}): {err}") from err


def _wanted(desired: NetworkState, name: str) -> Interface:
    found = desired.find(name)
    if found is None:
        raise StepFailed(f"{name}: the plan names an interface the desired state does not")
    return found


def _create(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    iface = _wanted(desired, step.interface)
    if iface.vlan is not None:
        base = index(ipr, iface.vlan.base)
        ipr.link("add", ifname=iface.name, kind="vlan", link=base, vlan_id=iface.vlan.id)
    elif iface.bond is not None:  # its mode now, while it has no ports (set_bond says why)
        mode = BOND_MODES.index(iface.bond.mode)
        ipr.link("add", ifname=iface.name, kind="bond", bond_mode=mode)
    elif iface.type in ("bridge", "bond"):
        ipr.link("add", ifname=iface.name, kind=iface.type)
    else:
        raise StepFailed(f"{iface.name}: cannot make an interface of type {iface.type}")


def _master_of(desired: NetworkState, port: str) -> str:
    found = next((i.name for i in desired.interfaces if port in i.ports()), None)
    if found is None:
        raise StepFailed(f"{port}: the plan enslaves it, but no master asks for it")
    return found


def _enslave(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    master = index(ipr, _master_of(desired, step.interface))
    ipr.link("set", index=index(ipr, step.interface), master=master)


def _release(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    ipr.link("set", index=index(ipr, step.interface), master=0)


def _mtu(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    ipr.link("set", index=index(ipr, step.interface), mtu=_wanted(desired, step.interface).mtu)


def _set(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    iface = _wanted(desired, step.interface)
    if iface.bridge is not None:
        set_bridge(ipr, iface.name, int(iface.bridge.stp), iface.bridge.forward_delay * 100)
    elif iface.bond is not None:
        mode = BOND_MODES.index(iface.bond.mode)
        set_bond(ipr, iface.name, {"mode": mode, "miimon": iface.bond.miimon})


def set_bridge(ipr: IPRoute, name: str, stp: int | None, delay: int | None) -> None:
    """STP and forward delay, one message each: the kernel refuses a delay under 2 s while
    STP is on (br_set_forward_delay), so the delay goes first when STP is turned on and
    last when it is turned off (libvirt's bridges have STP off and a delay of 0)."""
    idx = index(ipr, name)
    first, then = ({"br_forward_delay": delay}, {"br_stp_state": stp})
    if not stp:
        first, then = then, first
    for attrs in (first, then):
        if None not in attrs.values():
            ipr.link("set", index=idx, kind="bridge", **attrs)


def set_bond(ipr: IPRoute, name: str, settings: dict[str, Any]) -> None:
    """A bond's mode can change only while it is down and has no ports (the kernel's rule:
    BOND_OPTFLAG_NOSLAVES | BOND_OPTFLAG_IFDOWN, else ENOTEMPTY), so a mode change releases
    its ports, sets the mode and enslaves them again, and the bond is up again if it was."""
    idx = index(ipr, name)
    attrs = {f"bond_{k}": v for k, v in settings.items() if v is not None}
    mode = attrs.pop("bond_mode", None)
    link = ipr.get_links(idx)[0]
    info = link.get("linkinfo")
    data = info.get("data") if info is not None else None
    if mode is not None and (data is None or data.get("IFLA_BOND_MODE") != mode):
        _change_bond_mode(ipr, idx, mode, bool(link["flags"] & IFF_UP))
    if attrs:
        ipr.link("set", index=idx, kind="bond", **attrs)


def _change_bond_mode(ipr: IPRoute, idx: int, mode: int, up: bool) -> None:
    ports = [m["index"] for m in ipr.get_links() if m.get("master") == idx]
    for port in ports:
        ipr.link("set", index=port, master=0)
    ipr.link("set", index=idx, state="down")
    ipr.link("set", index=idx, kind="bond", bond_mode=mode)
    for port in ports:
        ipr.link("set", index=port, master=idx)
    if up:
        ipr.link("set", index=idx, state="up")


def _address(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    cidr = ipaddress.ip_interface(step.detail)
    command = "add" if step.action == "add-address" else "del"
    ipr.addr(command, index=index(ipr, step.interface), address=str(cidr.ip),
             prefixlen=cidr.network.prefixlen)  # fmt: skip


def _link_state(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    state = "up" if step.action == "link-up" else "down"
    ipr.link("set", index=index(ipr, step.interface), state=state)


def _route(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    present = step.action == "route-add"
    for route in desired.routes:
        if route.destination == step.interface and (route.state == "present") == present:
            entry = RouteEntry(route.destination, route.gateway, route.dev)
            route_op(ipr, "add" if present else "del", entry)


def route_op(ipr: IPRoute, command: str, route: RouteEntry) -> None:
    attrs: dict[str, Any] = {"dst": route.destination}
    if route.gateway:
        attrs["gateway"] = route.gateway
    if route.dev:
        attrs["oif"] = index(ipr, route.dev)
    if route.metric is not None:
        attrs["priority"] = route.metric
    if command == "add":
        attrs |= {"proto": route.proto, "scope": route.scope}
    ipr.route(command, table=MAIN_TABLE, **attrs)


def _remove(ipr: IPRoute, step: Step, desired: NetworkState) -> None:
    ipr.link("del", index=index(ipr, step.interface))


STEPS: dict[str, Callable[[IPRoute, Step, NetworkState], None]] = {
    "create": _create,
    "release": _release,
    "set-mtu": _mtu,
    "enslave": _enslave,
    "set": _set,
    "add-address": _address,
    "remove-address": _address,
    "link-up": _link_state,
    "link-down": _link_state,
    "route-add": _route,
    "route-del": _route,
    "remove": _remove,
}


# --- DHCP clients --------------------------------------------------------------------------
DHCP_TIMEOUT = 30.0  # seconds a client has for its first lease before the change fails

# The client's script: the lease's address on the interface with the lease's lifetimes (so the
# kernel marks it dynamic and drops it if the client dies and the lease runs out), and the
# router as a default route unless one is there. It writes no /etc/resolv.conf: the host's
# resolver stays as it is (Debian's dhclient-script would rewrite it). One script for dhclient
# ($reason, $new_*/$old_*) and udhcpc ($1, $ip/$subnet/$lease/$router).
DHCP_SCRIPT = r"""#!/bin/sh
# written by plugboard's host agent: the DHCP client of a host network change
prefix() { n=0; for o in $(echo "$1" | tr . ' '); do case $o in
  255) n=$((n+8));; 254) n=$((n+7));; 252) n=$((n+6));; 248) n=$((n+5));;
  240) n=$((n+4));; 224) n=$((n+3));; 192) n=$((n+2));; 128) n=$((n+1));; esac; done; echo $n; }
bind() {  # address mask lifetime router
  ip link set dev "$interface" up
  ip -4 addr replace "$1/$(prefix "$2")" dev "$interface" valid_lft "${3:-forever}" \
    preferred_lft "${3:-forever}"
  r=${4%% *}
  if [ -n "$r" ] && [ -z "$(ip -4 route show default)" ]; then
    ip -4 route add default via "$r" dev "$interface"
  fi
}
unbind() { [ -n "$1" ] && ip -4 addr del "$1/$(prefix "$2")" dev "$interface"; return 0; }
case "${reason:-$1}" in
  BOUND|RENEW|REBIND|REBOOT)
    if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
      unbind "$old_ip_address" "$old_subnet_mask"; fi
    bind "$new_ip_address" "$new_subnet_mask" "$new_dhcp_lease_time" "$new_routers" ;;
  EXPIRE|FAIL|RELEASE|STOP) unbind "$old_ip_address" "$old_subnet_mask" ;;
  bound|renew) bind "$ip" "$subnet" "$lease" "$router" ;;
  deconfig) ip -4 addr flush dev "$interface" dynamic ;;
esac
exit 0
"""


@dataclass(frozen=True)
class DhcpFiles:
    """A client's pid, lease and script files, in the change's directory (never the host's
    own /var/lib/dhcp or /run/dhclient*, which its own DHCP clients use)."""

    pid: Path
    leases: Path
    script: Path
    conf: Path
    log: Path

    @classmethod
    def under(cls, directory: Path, iface: str) -> DhcpFiles:
        def named(ext: str) -> Path:  # not with_suffix: "bond0.7" has a dot of its own
            return directory / f"dhcp-{iface}.{ext}"

        return cls(named("pid"), named("leases"), directory / "dhcp-script", named("conf"),
                   named("log"))  # fmt: skip


def dhcp_program() -> list[str] | None:
    """Debian's dhclient (isc-dhcp-client), else busybox's udhcpc; None when neither is here."""
    for argv in (["dhclient"], ["udhcpc"], ["busybox", "udhcpc"]):
        found = shutil.which(argv[0], path=os.environ.get("PATH", "") + ":/sbin:/usr/sbin")
        if found:
            return [found, *argv[1:]]
    return None


def dhcp_command(program: list[str], iface: str, files: DhcpFiles, timeout: float) -> list[str]:
    """The client's command line: one try of at most `timeout` seconds for a lease (else it
    exits, failing), then it goes into the background and keeps renewing."""
    if Path(program[0]).name == "dhclient":
        return [*program, "-4", "-1", "-cf", str(files.conf), "-pf", str(files.pid),
                "-lf", str(files.leases), "-sf", str(files.script), iface]  # fmt: skip
    tries = max(1, int(timeout // 3))
    return [*program, "-i", iface, "-p", str(files.pid), "-s", str(files.script),
            "-n", "-t", str(tries), "-T", "3"]  # fmt: skip


def start_dhcp(directory: Path, iface: str, timeout: float = DHCP_TIMEOUT) -> int:
    """A DHCP client on `iface` with its files in `directory`, once it holds a lease; its pid.
    From then on it is the change's: a rollback stops it (`stop_dhcp`); once the change is
    confirmed it is the host's, left running to renew its lease, and nothing of plugboard's
    stops it (a later change that drops the DHCP leaves it: stop it by its pid file)."""
    program = dhcp_program()
    if program is None:
        raise StepFailed(f"dhcp {iface}: no DHCP client on this host (dhclient or udhcpc)")
    files = DhcpFiles.under(directory, iface)
    files.script.write_text(DHCP_SCRIPT)
    files.script.chmod(0o700)
    files.conf.write_text(f"timeout {int(timeout)};\nretry 60;\n")
    command = dhcp_command(program, iface, files, timeout)
    # its output to a file, not a pipe: a client in the background that kept the pipe open
    # would hold this call until the timeout
    with files.log.open("a") as log:
        try:
            done = subprocess.run(command, check=False, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout + 5)  # fmt: skip
        except subprocess.TimeoutExpired as err:
            raise StepFailed(f"dhcp {iface}: no lease within {timeout:g} s") from err
    if done.returncode != 0:
        said = files.log.read_text().strip()[-300:]
        raise StepFailed(f"dhcp {iface}: no lease (exit {done.returncode}: {said})")
    return _dhcp_pid(files, iface)


def _dhcp_pid(files: DhcpFiles, iface: str) -> int:
    """The client's pid from its pid file, written as it went into the background."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = files.pid.read_text().strip() if files.pid.exists() else ""
        if text.isdigit() and is_dhcp_client(int(text), files.pid):
            return int(text)
        time.sleep(0.05)
    raise StepFailed(f"dhcp {iface}: the client holds a lease but wrote no pid to {files.pid}")


def is_dhcp_client(pid: int, pid_file: Path) -> bool:
    """Whether process `pid` is the client with this pid file (not a process that got the
    number since)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(pid_file).encode() in argv


def stop_dhcp(pid: int, pid_file: Path, timeout: float = 5.0) -> None:
    """The client `pid` stopped (SIGTERM, then SIGKILL), if it is still that client."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_dhcp_client(pid, pid_file):
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while is_dhcp_client(pid, pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)
    if is_dhcp_client(pid, pid_file):
        raise StepFailed(f"DHCP client {pid} did not stop")


# --- a rollback's operations ----------------------------------------------------------------
def undo_op(ipr: IPRoute, op: Op) -> None:
    """One rollback operation (plugboard.hostnet.checkpoint.undo)."""
    try:
        UNDO[op.action](ipr, op)
    except Exception as err:
        raise StepFailed(f"rollback {op.action} {op.name} ({op.value}): {err}") from err


def _u_create(ipr: IPRoute, op: Op) -> None:
    link = op.value
    if link["kind"] == "vlan":
        base = index(ipr, link["settings"]["base"])
        ipr.link("add", ifname=op.name, kind="vlan", link=base, vlan_id=link["settings"]["id"])
    else:
        ipr.link("add", ifname=op.name, kind=link["kind"])


def _u_address(ipr: IPRoute, op: Op) -> None:
    cidr = ipaddress.ip_interface(op.value)
    command = "add" if op.action == "add-addr" else "del"
    ipr.addr(command, index=index(ipr, op.name), address=str(cidr.ip),
             prefixlen=cidr.network.prefixlen)  # fmt: skip


def _u_route(ipr: IPRoute, op: Op) -> None:
    route_op(ipr, "add" if op.action == "route-add" else "del", RouteEntry(**op.value))


UNDO: dict[str, Callable[[IPRoute, Op], None]] = {
    "delete": lambda ipr, op: ipr.link("del", index=index(ipr, op.name)),
    "nomaster": lambda ipr, op: ipr.link("set", index=index(ipr, op.name), master=0),
    "create": _u_create,
    "bridge": lambda ipr, op: set_bridge(
        ipr, op.name, op.value.get("stp_state"), op.value.get("forward_delay")
    ),
    "bond": lambda ipr, op: set_bond(ipr, op.name, op.value),
    "master": lambda ipr, op: ipr.link(
        "set", index=index(ipr, op.name), master=index(ipr, op.value)
    ),
    "mtu": lambda ipr, op: ipr.link("set", index=index(ipr, op.name), mtu=op.value),
    "mac": lambda ipr, op: ipr.link("set", index=index(ipr, op.name), address=op.value),
    "del-addr": _u_address,
    "add-addr": _u_address,
    "up": lambda ipr, op: ipr.link("set", index=index(ipr, op.name), state="up"),
    "down": lambda ipr, op: ipr.link("set", index=index(ipr, op.name), state="down"),
    "route-del": _u_route,
    "route-add": _u_route,
}
