"""Port mirroring on a host: which copies of frames go where (pure), and the tc and Open vSwitch
rules that carry them, read and reconciled in the network namespace of the host's libvirtd.

A monitor vNIC receives copies of frames:
- `port_mirroring` (oVirt's meaning): every frame on its network. On a Linux bridge: the
  frames entering the bridge from every other port (their tc ingress) and from the host (the
  bridge device's egress), each frame once. On an Open vSwitch bridge: a `Mirror` row with
  select_all and the monitor's port as output_port.
- `mirror_of`: what each chosen vNIC sends (its tap's ingress) and receives (its tap's
  egress), wherever its tap is wired (tc works on the tap whatever bridge holds it), so the
  mirror survives a re-wire of the chosen vNIC.

tc, and why this way (measured on kernel 6.18 here): `matchall`, `prio` and `sfq` are not
built in; `u32`, `htb`, `ingress`, `clsact` and `mirred` are. libvirt's own QoS puts an
`ingress` qdisc (police) and a `htb` root on a tap, deleting whatever is there first; a
`clsact` qdisc would make libvirt's `tc qdisc add ... ingress` fail ("Exclusivity flag on"),
so a QoS update of a mirrored vNIC would fail as it does in oVirt. So plugboard shares
libvirt's kinds: its ingress rule is a filter on an `ingress` qdisc (libvirt's, or one added),
its egress rule a filter on a `htb` root (libvirt's, or one added with handle 5042: and no
class: every frame goes out its direct queue, unshaped). Each is one `u32 match u32 0 0`
filter at preference 10 whose mirred actions carry plugboard's cookie and end in `continue`,
so libvirt's own filters still run after it. When libvirt replaces its qdiscs (a QoS change),
the reconcile puts the filter back. Switched off, the filter goes, and so does a qdisc that is
left with no filter (libvirt's always have one).

tc is run as a program (`nsenter --net=... tc -json`), not through pyroute2: its JSON read of
u32 filters with mirred actions, cookies and control actions is what this module parses, and
the commands are libvirt's own tool's; pyroute2 0.9's encoding of mirred with a cookie and
`continue` was not verified here.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from plugboard.hostnet import ovsdb

log = logging.getLogger(__name__)

COOKIE = "706c7567626f617264"  # "plugboard": marks the mirred actions plugboard added
PREF = 10
OWN_ROOT = "5042:"  # the htb root plugboard adds where a device has no classful root
INGRESS, EGRESS = "ingress", "egress"
MIRROR_KEY = "plugboard-monitor"  # external_ids key of plugboard's Mirror rows
TC_TIMEOUT = 10.0


class MirrorError(RuntimeError):
    """tc or OVSDB refused a rule; the message says which and why."""


# --- the desired rules (pure) ----------------------------------------------------------------
@dataclass(frozen=True)
class Tap:
    """A running vNIC's host device: `dev` (vnetN), on `bridge` (None: none known)."""

    vm: str
    nic: str
    dev: str
    bridge: str | None

    @property
    def ref(self) -> str:
        return f"{self.vm}/{self.nic}"


@dataclass(frozen=True)
class Monitor:
    """A vNIC that receives copies: of its whole network, or of the vNICs `mirror_of` names."""

    vm: str
    nic: str
    port_mirroring: bool = False
    mirror_of: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.vm}/{self.nic}"


@dataclass
class Topology:
    """What the host has: running taps by "vm/nic", each Linux bridge's ports, the Open vSwitch
    bridges."""

    taps: dict[str, Tap]
    linux_bridges: dict[str, list[str]] = field(default_factory=dict)
    ovs_bridges: frozenset[str] = frozenset()


@dataclass
class Desired:
    """tc: (device, hook) -> the monitor taps its copies go to; ovs: monitor "vm/nic" ->
    (bridge, monitor's port) for a select_all Mirror row; notes: what cannot be mirrored now."""

    tc: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    ovs: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # monitor ref -> notes


def desired_rules(monitors: Iterable[Monitor], topology: Topology) -> Desired:
    """The rules that give each running monitor its copies, on the host as it is."""
    wanted: dict[tuple[str, str], set[str]] = {}
    out = Desired()
    for monitor in monitors:
        notes = out.notes.setdefault(monitor.ref, [])
        tap = topology.taps.get(monitor.ref)
        if tap is None:
            if monitor.port_mirroring or monitor.mirror_of:
                notes.append(f"{monitor.ref} is not running (or unplugged): nothing to mirror")
            continue
        if monitor.port_mirroring:
            _whole_network(tap, topology, wanted, out, notes)
        for ref in monitor.mirror_of:
            source = topology.taps.get(ref)
            if source is None:
                notes.append(f"{ref} is not running (or unplugged): mirrored when it runs")
            elif source.dev != tap.dev:
                for hook in (INGRESS, EGRESS):
                    wanted.setdefault((source.dev, hook), set()).add(tap.dev)
    out.tc = {key: tuple(sorted(targets)) for key, targets in sorted(wanted.items())}
    return out


def _whole_network(
    tap: Tap,
    topology: Topology,
    wanted: dict[tuple[str, str], set[str]],
    out: Desired,
    notes: list[str],
) -> None:
    if tap.bridge in topology.linux_bridges:
        for port in topology.linux_bridges[tap.bridge]:
            if port != tap.dev:
                wanted.setdefault((port, INGRESS), set()).add(tap.dev)
        wanted.setdefault((tap.bridge, EGRESS), set()).add(tap.dev)
    elif tap.bridge in topology.ovs_bridges:
        out.ovs[tap.ref] = (tap.bridge, tap.dev)
    else:
        notes.append(f"{tap.ref} is on no bridge plugboard can mirror (a macvtap?)")


# --- tc --------------------------------------------------------------------------------------
def _tc(netns: str | None, *args: str, check: bool = True) -> str:
    argv = ["tc", *args]
    if netns is not None:
        argv = ["nsenter", f"--net={netns}", *argv]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=TC_TIMEOUT, check=False)
    if check and run.returncode != 0:
        raise MirrorError(f"`tc {' '.join(args)}` failed: {run.stderr.strip()}")
    return run.stdout


@dataclass
class Hooks:
    """Where a device's rules can go: its ingress qdisc's kind, its root qdisc (kind, handle)."""

    ingress: str | None = None  # "ingress" or "clsact"
    root_kind: str | None = None
    root_handle: str | None = None

    def parent(self, hook: str) -> str | None:
        if hook == INGRESS:
            return {"ingress": "ffff:", "clsact": "ffff:fff2"}.get(self.ingress or "")
        return self.root_handle if self.root_kind == "htb" else None


def read_hooks(netns: str | None) -> dict[str, Hooks]:
    """Every device's qdiscs that can hold a mirror rule, in one `tc qdisc show`."""
    hooks: dict[str, Hooks] = {}
    for qdisc in json.loads(_tc(netns, "-json", "qdisc", "show") or "[]"):
        dev = hooks.setdefault(qdisc["dev"], Hooks())
        if qdisc["kind"] in ("ingress", "clsact"):
            dev.ingress = qdisc["kind"]
        elif qdisc.get("root"):
            dev.root_kind, dev.root_handle = qdisc["kind"], qdisc["handle"]
    return hooks


@dataclass(frozen=True)
class TcRule:
    """One of plugboard's filters as the device has it."""

    dev: str
    hook: str
    parent: str
    targets: tuple[str, ...]  # the devices its mirred actions copy to ("?" for one gone)
    others: int  # the filters on the same parent that are not plugboard's


def read_rules(netns: str | None, hooks: dict[str, Hooks]) -> dict[tuple[str, str], TcRule]:
    """plugboard's filters on every device that has a qdisc they can be on."""
    rules: dict[tuple[str, str], TcRule] = {}
    for dev, hook_of in hooks.items():
        for hook in (INGRESS, EGRESS):
            parent = hook_of.parent(hook)
            if parent is None:
                continue
            shown = _tc(netns, "-json", "filter", "show", "dev", dev, "parent", parent, check=False)
            rule = _ours(dev, hook, parent, json.loads(shown or "[]"))
            if rule is not None:
                rules[(dev, hook)] = rule
    return rules


def _ours(dev: str, hook: str, parent: str, filters: list[dict]) -> TcRule | None:
    """plugboard's filter among those `tc -json filter show` lists (u32 lists each filter's
    hash table and its nodes; the nodes carry the actions)."""
    targets: list[str] = []
    others = 0
    for entry in filters:
        actions = entry.get("options", {}).get("actions")
        if not actions:
            continue
        if entry.get("pref") == PREF and any(a.get("cookie") == COOKIE for a in actions):
            targets += [a.get("to_dev", "?") for a in actions if a.get("kind") == "mirred"]
        else:
            others += 1
    if not targets:
        return None
    return TcRule(dev, hook, parent, tuple(sorted(targets)), others)


def _actions(targets: tuple[str, ...]) -> list[str]:
    """mirred to each target; the last with plugboard's cookie and `continue`, so the frame
    goes on to the device's other filters (libvirt's QoS) as if the rule were not there."""
    args: list[str] = []
    for i, target in enumerate(targets):
        last = i == len(targets) - 1
        args += ["action", "mirred", "egress", "mirror", "dev", target]
        args += ["continue", "cookie", COOKIE] if last else ["pipe", "cookie", COOKIE]
    return args


@dataclass
class TcChange:
    """What a reconcile of tc did: rules added or replaced, removed, and failures."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def reconcile_tc(netns: str | None, desired: dict[tuple[str, str], tuple[str, ...]]) -> TcChange:
    """Make plugboard's tc rules on the host what `desired` says: add what is missing, replace
    what differs, remove what is no longer wanted (and the qdisc left empty)."""
    hooks = read_hooks(netns)
    actual = read_rules(netns, hooks)
    change = TcChange()
    for key, rule in actual.items():
        if desired.get(key) != rule.targets:
            _remove(netns, rule, hooks[rule.dev], change)
    for (dev, hook), targets in desired.items():
        have = actual.get((dev, hook))
        if have is not None and have.targets == targets:
            continue
        try:
            _add(netns, dev, hook, targets, hooks.setdefault(dev, Hooks()))
            change.added.append(f"{dev} {hook} -> {','.join(targets)}")
        except MirrorError as err:
            change.failed.append(str(err))
    return change


def _remove(netns: str | None, rule: TcRule, hooks: Hooks, change: TcChange) -> None:
    what = f"{rule.dev} {rule.hook} -> {','.join(rule.targets)}"
    try:
        _tc(netns, "filter", "del", "dev", rule.dev, "parent", rule.parent, "pref", str(PREF))
    except MirrorError as err:
        if "Cannot find device" not in str(err):  # the tap went with its VM
            change.failed.append(str(err))
            return
    change.removed.append(what)
    if rule.others:
        return
    # Nothing else on the qdisc: plugboard's own (libvirt's always holds its QoS filter).
    if rule.hook == INGRESS and hooks.ingress == "ingress":
        _tc(netns, "qdisc", "del", "dev", rule.dev, "ingress", check=False)
        hooks.ingress = None
    elif rule.hook == EGRESS and hooks.root_handle == OWN_ROOT:
        _tc(netns, "qdisc", "del", "dev", rule.dev, "root", check=False)
        hooks.root_kind = hooks.root_handle = None


def _add(netns: str | None, dev: str, hook: str, targets: tuple[str, ...], hooks: Hooks) -> None:
    parent = hooks.parent(hook)
    if parent is None and hook == INGRESS:
        _tc(netns, "qdisc", "add", "dev", dev, "ingress")
        hooks.ingress, parent = "ingress", "ffff:"
    elif parent is None:  # no classful root: one of plugboard's, without classes
        _tc(netns, "qdisc", "replace", "dev", dev, "root", "handle", OWN_ROOT, "htb")
        hooks.root_kind, hooks.root_handle = "htb", OWN_ROOT
        parent = OWN_ROOT
    _tc(netns, "filter", "del", "dev", dev, "parent", parent, "pref", str(PREF), check=False)
    _tc(
        netns,
        "filter", "add", "dev", dev, "parent", parent, "pref", str(PREF),
        "protocol", "all", "u32", "match", "u32", "0", "0",
        *_actions(targets),
    )  # fmt: skip


# --- Open vSwitch ----------------------------------------------------------------------------
def reconcile_ovs(endpoint: str, desired: dict[str, tuple[str, str]]) -> TcChange:
    """Make plugboard's Mirror rows what `desired` says (monitor -> (bridge, port))."""
    change = TcChange()
    try:
        actual = ovsdb.plugboard_mirrors(endpoint, MIRROR_KEY)
    except ovsdb.OvsdbUnavailable as err:
        if desired:
            change.failed.append(f"Open vSwitch: {err}")
        return change
    for monitor, mirror in actual.items():
        if desired.get(monitor) != (mirror.bridge, mirror.output_port):
            ovsdb.delete_mirror(endpoint, mirror)
            change.removed.append(f"Mirror {mirror.name} on {mirror.bridge}")
    for monitor, (bridge, port) in desired.items():
        have = actual.get(monitor)
        if have is not None and (have.bridge, have.output_port) == (bridge, port):
            continue
        try:
            ovsdb.add_mirror(endpoint, bridge, _mirror_name(monitor), port, {MIRROR_KEY: monitor})
            change.added.append(f"Mirror {_mirror_name(monitor)} on {bridge} -> {port}")
        except ovsdb.OvsdbUnavailable as err:
            change.failed.append(f"Open vSwitch: {err}")
    return change


def _mirror_name(monitor: str) -> str:
    return f"plugboard:{monitor}"


def read_ovs(endpoint: str) -> dict[str, tuple[str, str | None]]:
    """plugboard's Mirror rows: monitor -> (bridge, output port); none without OVS."""
    try:
        mirrors = ovsdb.plugboard_mirrors(endpoint, MIRROR_KEY)
    except ovsdb.OvsdbUnavailable:
        return {}
    return {m: (row.bridge, row.output_port) for m, row in mirrors.items()}
