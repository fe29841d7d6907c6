"""Virtual networks on hosts. libvirt holds them: every call reads libvirt, validates with
plugboard.netxml before libvirt is asked to change anything, and re-reads afterwards."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from plugboard.engine import grants, network_rollout, policy
from plugboard.engine.etags import check_etag, etag_of
from plugboard.engine.policy import Action, host_object, network_object, vm_object
from plugboard.engine.tokens import Principal, TokenCache
from plugboard.errors import (
    Conflict,
    InvalidInput,
    NetworkExists,
    NetworkInUse,
    PlugboardError,
)
from plugboard.hosts.adapter import Libvirt, LibvirtNetwork, NetworkFlags
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.errors import refusal_explained
from plugboard.names import check_name
from plugboard.netxml import (
    Network,
    NetworkXMLError,
    apply_update,
    format_network,
    network_from_json,
    parse_network,
)
from plugboard.netxml.addresses import Address
from plugboard.netxml.interface import Interface
from plugboard.netxml.update import COMMANDS, SECTIONS
from plugboard.netxml.validate import subnet_of
from plugboard.store import Store
from plugboard.vnic.metadata import NS as VNICS_NS
from plugboard.vnic.xml import interface_of, mac_of, vnic_name

log = logging.getLogger(__name__)
# Unplugged vNICs kept in a domain's metadata still name their network.
UNPLUGGED_ON = etree.XPath(
    "./metadata/p:vnics/p:vnic/p:interface[@type='network']/p:source[@network=$n]",
    namespaces={"p": VNICS_NS},
)
UNPLUGGED_SOURCES = etree.XPath(
    "./metadata/p:vnics/p:vnic/p:interface[@type='network']/p:source[@network]",
    namespaces={"p": VNICS_NS},
)
# Forward modes whose bridge libvirt makes itself, with a MAC it picks (isolated is None).
MADE_BRIDGE = {None, "nat", "route", "open"}


@dataclass
class NetworkState:
    """A network as libvirt has it now: its definition and its state."""

    definition: Network
    xml: str
    persistent_xml: str  # the definition it starts with (virsh net-dumpxml --inactive)
    active: bool
    persistent: bool
    autostart: bool
    connections: int = 0  # cards of running VMs on it
    pool: dict[str, int] = field(default_factory=dict)  # of those, on each host device

    @property
    def name(self) -> str:
        return self.definition.name or ""

    @property
    def etag(self) -> str:
        """A strong ETag of what PUT and PATCH change: the definition and autostart."""
        return etag_of(f"autostart={self.autostart}\n{self.persistent_xml}")

    @property
    def subnets(self) -> list[str]:
        """Each <ip> as address/prefix."""
        found = []
        for i, ip in enumerate(self.definition.ips, 1):
            subnet = subnet_of(ip, f"/network/ip[{i}]")
            if subnet is not None:
                found.append(f"{ip.address}/{subnet.prefixlen}")
        return found


@dataclass
class DhcpLease:
    """A DHCP lease dnsmasq gave, with the VM and vNIC of its MAC when plugboard knows them."""

    mac: str
    ip: str
    prefix: int
    hostname: str | None
    expiry: dt.datetime | None
    client_id: str | None
    vm: str | None = None
    vnic: str | None = None
    vnic_now_on: str | None = None  # where that vNIC is wired now, when not on this network


@dataclass
class NetworkChange:
    """What a change of a network did: the network after it, and when it takes effect; with
    apply_to_running, each running vNIC brought to it (plugboard.engine.network_rollout)."""

    state: NetworkState
    applied: str = "now"  # or "next-start"
    notes: list[str] = field(default_factory=list)
    vnics: list[Any] | None = None  # VnicOutcome of each running vNIC refreshed


# --- reading ---------------------------------------------------------------------------------
Attached = Counter[tuple[str, str]]


def _attached(lv: Libvirt) -> Attached:
    """(network, host device or "") of each card of each running VM. libvirt's own count (the
    network's `connections`) starts again at 0 on every net-update, so the cards are counted
    where they are plugged."""
    found: Attached = Counter()
    for dom in lv.domains():
        if dom.is_active():
            for src in dom.tree().iterfind("./devices/interface/source[@network]"):
                found[(src.get("network") or "", src.get("dev") or "")] += 1
    return found


def _state(
    net: LibvirtNetwork, attached: Attached, flags: NetworkFlags | None = None
) -> NetworkState:
    if flags is None:
        flags = NetworkFlags(net.is_active(), net.is_persistent(), net.autostart())
    xml = net.xml()
    # Only a running network with a definition has two XMLs; otherwise the one read is both.
    persistent_xml = net.xml(inactive=True) if flags.active and flags.persistent else xml
    on_it = {dev: n for (network, dev), n in attached.items() if network == net.name}
    return NetworkState(
        definition=parse_network(xml, live=True),
        xml=xml,
        persistent_xml=persistent_xml,
        active=flags.active,
        persistent=flags.persistent,
        autostart=flags.autostart,
        connections=sum(on_it.values()),
        pool={dev: n for dev, n in on_it.items() if dev},
    )


def _state_now(lv: Libvirt, net: LibvirtNetwork) -> NetworkState:
    return _state(net, _attached(lv))


def _seen(host: HostConnection, by: Principal, nets: list[LibvirtNetwork]) -> list[LibvirtNetwork]:
    return policy.keep_visible(by, nets, lambda n: network_object(host.name, n.name))


def list_networks(host: HostConnection, by: Principal) -> list[NetworkState]:
    """The host's networks that `by` may see (a user: those granted to them)."""
    policy.require(by, Action.SEE, host_object(host.name))

    def read(lv: Libvirt) -> list[NetworkState]:
        attached = _attached(lv)
        flags = lv.network_flags()
        states = (_state(n, attached, flags.get(n.name)) for n in _seen(host, by, lv.networks()))
        return sorted(states, key=lambda s: s.name)

    return host.call(read)


def network_names(host: HostConnection, by: Principal) -> list[str]:
    """The names alone of the host's networks `by` may see (one libvirt call: no XML, no
    state)."""
    policy.require(by, Action.SEE, host_object(host.name))
    return host.call(lambda lv: sorted(n.name for n in _seen(host, by, lv.networks())))


def get_network(host: HostConnection, by: Principal, name: str) -> NetworkState:
    policy.require(by, Action.SEE, network_object(host.name, name))
    return host.call(lambda lv: _state_now(lv, lv.network(name)))


# --- input -----------------------------------------------------------------------------------
def definition_from(body: bytes | dict[str, Any], xml: bool) -> Network:
    """The network a request brings, as XML or as the JSON form; 422 naming the element."""
    try:
        if xml and isinstance(body, bytes):
            network = parse_network(body)
        elif not isinstance(body, dict):
            raise InvalidInput(
                "the body must be a JSON object (the network's JSON form) or "
                "libvirt XML with Content-Type: application/xml"
            )
        else:
            network = network_from_json(body)
    except NetworkXMLError as err:
        raise InvalidInput(str(err), field=err.path) from None
    check_name(network.name, field="/network/name")  # else no route could reach it
    return network


# --- changes ---------------------------------------------------------------------------------
REFUSED_DEFINITION = "libvirt refused the definition"


def define_network(
    host: HostConnection,
    by: Principal,
    definition: Network,
    *,
    start: bool = False,
    autostart: bool = False,
) -> NetworkChange:
    policy.require(by, Action.MANAGE, host_object(host.name))
    xml = format_network(definition)
    name = definition.name or ""

    def define(lv: Libvirt) -> NetworkChange:
        if lv.has_network(name):
            raise NetworkExists(
                f"a network '{definition.name}' exists on this host; change it with "
                "`plugboard net-edit`, `plugboard net-define --replace` or PUT"
            )
        with refusal_explained(REFUSED_DEFINITION):
            net = lv.define_network(xml)
        try:
            with refusal_explained(f"network '{definition.name}' could not start"):
                if autostart:
                    net.set_autostart(True)
                if start:
                    net.create()
        except PlugboardError:
            _undefine_half_made(net)
            raise
        return NetworkChange(_state_now(lv, net))

    return host.call(define)


def _undefine_half_made(net: LibvirtNetwork) -> None:
    """Nothing half-made stays behind (or the log says why it did)."""
    try:
        net.undefine()
    except PlugboardError as err:
        log.error("network %s did not start and could not be undefined: %s", net.name, err.detail)


def redefine_network(
    host: HostConnection,
    by: Principal,
    name: str,
    definition: Network,
    *,
    restart: bool = False,
    if_match: str | None = None,
    apply_to_running: bool = False,
    store: Store | None = None,
    hotunplug_timeout: float = 30.0,
) -> NetworkChange:
    """virsh net-define over a network (as net-edit does): the same network, its UUID and its
    bridge's MAC kept unless the definition names others; `if_match` as RFC 9110 says. With
    `apply_to_running`, a running network's changed port groups are applied to it and to its
    running vNICs at once (plugboard.engine.network_rollout)."""
    _may_manage(by, host, name)
    if definition.name != name:
        raise InvalidInput(
            f"the definition is named '{definition.name}', not '{name}'; a "
            "network cannot be renamed",
            field="/network/name",
        )
    if restart and apply_to_running:  # 409: each alone is valid; together they ask two things
        raise Conflict("restart and apply_to_running exclude each other: choose one")

    def redefine(lv: Libvirt) -> NetworkChange:
        before = _state_now(lv, lv.network(name))
        check_etag(before.etag, if_match, f"network {name}")
        _keep_identity(definition, parse_network(before.persistent_xml))
        if apply_to_running and before.active:
            return _portgroups_live(lv, name, parse_network(before.persistent_xml), definition)
        with refusal_explained(REFUSED_DEFINITION):
            net = lv.define_network(format_network(definition))
        if not net.is_active():
            return NetworkChange(_state_now(lv, net))
        if not restart:
            return NetworkChange(
                _state_now(lv, net),
                applied="next-start",
                notes=[
                    "the network is running; the new definition takes effect "
                    "when it restarts (?restart=true restarts it now)"
                ],
            )
        net.destroy()
        with refusal_explained(f"network '{name}' did not start again"):
            net.create()
        return NetworkChange(_state_now(lv, net))

    change = host.call(redefine)
    if change.vnics is not None:  # the cards to refresh, outside the host call: each its own
        assert store is not None, "apply_to_running needs the store (the vNICs' journal)"
        cards = change.vnics
        change.vnics = network_rollout.refresh(host, store, by, name, cards, hotunplug_timeout)
    return change


def _portgroups_live(lv: Libvirt, name: str, old: Network, new: Network) -> NetworkChange:
    """The changed port groups, on the running network and its definition (virNetworkUpdate);
    the running vNICs they concern, to refresh. Refusals before anything changes."""
    changed = network_rollout.changed_portgroups(old, new)
    default = next((g.name for g in old.portgroups if g.default), None)
    removed = {g for g, xml in changed.items() if xml is None}
    network_rollout.check_removed_unused(lv, name, removed, default)
    cards = network_rollout.concerned(lv, name, set(changed) - removed, default)  # as before
    net = lv.network(name)
    existing = {g.name for g in old.portgroups}
    for group, xml in changed.items():
        command = "delete" if xml is None else "modify" if group in existing else "add-last"
        with refusal_explained(f"libvirt refused the change of port group '{group}'"):
            net.update(command, "portgroup", -1, xml or _named_group(old, group))
    notes = [f"port groups changed live: {', '.join(changed) or 'none'}"]
    return NetworkChange(_state_now(lv, net), notes=notes, vnics=cards)


def _named_group(network: Network, name: str) -> str:
    return next(g.format() for g in network.portgroups if g.name == name)


def _keep_identity(definition: Network, old: Network) -> None:
    """What libvirt made up for the network the first time stays, as with virsh net-edit:
    its UUID and the MAC of the bridge it makes (else a PUT without <mac> gets a new one)."""
    if definition.uuid is None:
        definition.uuid = old.uuid
    if definition.mac is None and definition.forward_mode in MADE_BRIDGE:
        definition.mac = old.mac


def _may_manage(by: Principal, host: HostConnection, name: str) -> None:
    """A change of a network's definition or state is a host-admin's (404 for a network
    the caller may not see)."""
    policy.require(by, Action.SEE, network_object(host.name, name))
    policy.require(by, Action.MANAGE, host_object(host.name))


def start_network(host: HostConnection, by: Principal, name: str) -> NetworkChange:
    _may_manage(by, host, name)
    return _act(host, name, lambda _, net: net.create(), "could not start")


def stop_network(host: HostConnection, by: Principal, name: str) -> NetworkChange:
    _may_manage(by, host, name)
    return _act(host, name, lambda _, net: net.destroy(), "could not stop")


def set_autostart(
    host: HostConnection,
    by: Principal,
    name: str,
    autostart: bool,
    *,
    if_match: str | None = None,
) -> NetworkChange:
    _may_manage(by, host, name)

    def checked(lv: Libvirt, net: LibvirtNetwork) -> None:
        check_etag(_state_now(lv, net).etag, if_match, f"network {name}")
        net.set_autostart(autostart)

    return _act(host, name, checked, "could not change autostart")


def _act(
    host: HostConnection,
    name: str,
    action: Callable[[Libvirt, LibvirtNetwork], None],
    failure: str,
) -> NetworkChange:
    def run(lv: Libvirt) -> NetworkChange:
        net = lv.network(name)
        with refusal_explained(f"network '{name}' {failure}"):
            action(lv, net)
        return NetworkChange(_state_now(lv, net))

    return host.call(run)


def users_of(lv: Libvirt, name: str) -> list[str]:
    """VMs with a vNIC on network `name`: live, in their persistent definition, or unplugged
    (in plugboard's metadata)."""
    users = set()
    for dom, root in lv.definitions():
        if root.xpath("./devices/interface[@type='network']/source[@network=$n]", n=name) or (
            UNPLUGGED_ON(root, n=name)
        ):
            users.add(dom.name)
    return sorted(users)


def users_by_network(host: HostConnection, by: Principal) -> dict[str, list[str]]:
    """`users_of` for every network of the host, read in one pass over its VMs (those `by`
    may see)."""

    def read(lv: Libvirt) -> dict[str, list[str]]:
        users: dict[str, set[str]] = {}
        for dom, root in lv.definitions():
            for src in root.iterfind("./devices/interface[@type='network']/source[@network]"):
                users.setdefault(src.get("network") or "", set()).add(dom.name)
            for src in UNPLUGGED_SOURCES(root):
                users.setdefault(src.get("network") or "", set()).add(dom.name)
        return {
            network: policy.keep_visible(by, sorted(vms), lambda vm: vm_object(host.name, vm))
            for network, vms in users.items()
        }

    return host.call(read)


def delete_network(
    host: HostConnection,
    store: Store,
    by: Principal,
    tokens: TokenCache,
    name: str,
    *,
    force: bool = False,
) -> None:
    """Delete the network (refused while VMs use it, unless `force`); the grants on it go."""
    _may_manage(by, host, name)

    def delete(lv: Libvirt) -> None:
        net = lv.network(name)
        users = users_of(lv, name)
        if users and not force:
            raise NetworkInUse(
                f"network '{name}' is used by {', '.join(users)}; remove their "
                "vNICs or delete with force",
                vms=users,
            )
        with refusal_explained(f"network '{name}' could not be deleted"):
            if net.is_active():
                net.destroy()
            if net.is_persistent():
                net.undefine()

    host.call(delete)
    with store.session() as db:
        grants.forget_object(db, tokens, network_object(host.name, name))


def update_network(
    host: HostConnection,
    by: Principal,
    name: str,
    command: str,
    section: str,
    xml: str,
    *,
    parent_index: int = -1,
) -> NetworkChange:
    """One virNetworkUpdate, live and persistent; checked with netxml first."""
    _may_manage(by, host, name)
    if command not in COMMANDS or section not in SECTIONS:
        raise InvalidInput(
            f"command must be one of {', '.join(COMMANDS)} and section one of {', '.join(SECTIONS)}"
        )

    def update(lv: Libvirt) -> NetworkChange:
        net = lv.network(name)
        current = parse_network(net.xml(), live=True)
        try:
            apply_update(current, command, section, xml, parent_index)
        except NetworkXMLError as err:
            raise InvalidInput(str(err), field=err.path) from None
        with refusal_explained("libvirt refused the update"):
            net.update(command, section, parent_index, xml)
        return NetworkChange(_state_now(lv, net))

    return host.call(update)


# --- leases ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """A running card: its VM, its vNIC name, and where it is wired."""

    vm: str
    vnic: str
    network: str | None
    wired_to: str  # "network lab", "bridge br0", "macvtap on eth0", "no source"


def leases(host: HostConnection, by: Principal, name: str) -> list[DhcpLease]:
    """The network's DHCP leases with the card holding each; a user sees those of the VMs
    they may see."""
    policy.require(by, Action.SEE, network_object(host.name, name))

    def read(lv: Libvirt) -> list[DhcpLease]:
        net = lv.network(name)
        owners = _cards_by_mac(lv)
        found = [_lease(lease, owners.get(_mac(lease)), name) for lease in net.dhcp_leases()]
        if not by.is_admin:
            found = [
                lease
                for lease in found
                if lease.vm is not None
                and policy.can(by, Action.SEE, vm_object(host.name, lease.vm))
            ]
        return sorted(found, key=lambda lease: Address.parse(lease.ip))

    return host.call(read)


def _mac(lease: dict[str, Any]) -> str:
    return (lease.get("mac") or "").lower()


def _lease(lease: dict[str, Any], owner: Card | None, network: str) -> DhcpLease:
    """A lease with the card that holds its MAC; dnsmasq keeps a lease until it expires, also
    after the card has moved to another network (then `vnic_now_on` says where)."""
    expiry = lease.get("expirytime")
    return DhcpLease(
        mac=_mac(lease),
        ip=lease["ipaddr"],
        prefix=lease["prefix"],
        hostname=lease.get("hostname") or None,
        expiry=dt.datetime.fromtimestamp(expiry, dt.UTC) if expiry else None,
        client_id=lease.get("clientid") or None,
        vm=owner.vm if owner else None,
        vnic=owner.vnic if owner else None,
        vnic_now_on=owner.wired_to if owner and owner.network != network else None,
    )


def _cards_by_mac(lv: Libvirt) -> dict[str, Card]:
    """The card of each MAC on the host's running VMs (named as the vNIC API names it)."""
    owners = {}
    for dom in lv.domains():
        for element in dom.tree().iterfind("./devices/interface"):
            iface = interface_of(element)
            if mac_of(iface):
                src = iface.source
                network = src.network if src is not None else None
                owners[mac_of(iface)] = Card(dom.name, vnic_name(iface), network, _wired_to(iface))
    return owners


def _wired_to(iface: Interface) -> str:
    src = iface.source
    if src is None:
        return "no source"
    if src.network:
        return f"network {src.network}"
    if src.bridge:
        return f"bridge {src.bridge}"
    return f"macvtap on {src.dev}" if src.dev else "no source"
