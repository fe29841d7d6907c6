"""Checking what a vNIC is wired to, on the host, before anything changes: the network, Linux
bridge, macvtap device or Open vSwitch bridge must be there, and each source's attachment (a
tap, an OVS port, a macvtap, a host device) is worked out for the planner."""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from plugboard.engine.vm_state import VnicState
from plugboard.errors import InvalidInput, NetworkInactive, NetworkNamedNotFound, NetworkNotFound
from plugboard.hostnet.listing import check_source
from plugboard.hosts.adapter import Libvirt
from plugboard.vnic import MACVTAP_MODES, MODELS, Vnic
from plugboard.vnic.model import Attachment
from plugboard.vnic.xml import BLACKHOLE

BLACKHOLE_XML = f"<network><name>{BLACKHOLE}</name><bridge name='pbnonet0' stp='off'/></network>"
# libvirt's forward modes that give a network's vNICs a macvtap, not a tap (a bridge-mode
# network gives taps on its bridge, or macvtaps when it has none).
MACVTAP_FORWARD_MODES = set(MACVTAP_MODES) - {"bridge"}


def resolve(
    lv: Libvirt,
    vnic: Vnic,
    known: dict[str, Attachment] | None = None,
    current: Vnic | None = None,
) -> Vnic:
    """`vnic` with its source checked on the host and its attachment known:
    NETWORK_NOT_FOUND for a network the host does not have, HOST_INTERFACE_NOT_FOUND or
    OVS_BRIDGE_NOT_FOUND for a device or bridge it lacks (not checked again when `current`,
    the vNIC as it is, is wired there already). `known` remembers what was looked up."""
    if vnic.model not in MODELS and vnic.model != "default":
        raise InvalidInput(f"model '{vnic.model}' is not one of {', '.join(MODELS)}", field="model")
    src = vnic.source
    if src is None:
        return vnic
    if not src.managed:
        raise InvalidInput(
            f"vNIC {vnic.name} is a libvirt '{src.type}' interface, which plugboard shows but "
            "does not wire; change it with virsh, or wire it to a network, bridge, macvtap or "
            "Open vSwitch source",
            field="source",
        )
    known = {} if known is None else known
    key = (
        f"network:{src.network}" if src.type == "network" else f"{src.type}:{src.dev or src.bridge}"
    )
    if key not in known:
        known[key] = _check(lv, vnic, current)
    return vnic.with_(source=replace(src, attachment=known[key]))


def _check(lv: Libvirt, vnic: Vnic, current: Vnic | None) -> Attachment:
    src = vnic.source
    assert src is not None
    if src.type == "network":
        return network_attachment(lv, src.network or "")
    old = current.source if current is not None else None
    here = old is not None and (old.type, old.dev, old.bridge) == (src.type, src.dev, src.bridge)
    if not here:
        check_source(lv, src.type, (src.dev if src.type == "macvtap" else src.bridge) or "")
    return {"macvtap": "macvtap", "ovs": "ovs"}.get(src.type, "tap")  # type: ignore[return-value]


def network_attachment(lv: Libvirt, network: str) -> Attachment:
    """tap, ovs, macvtap or hostdev: what a libvirt network gives its vNICs."""
    try:
        net = lv.network(network)
    except NetworkNotFound as err:  # named in the body: 422, as a missing bridge is
        raise NetworkNamedNotFound(err.detail, field="source.network") from None
    root = etree.fromstring(net.xml().encode())
    forward = root.find("forward")
    mode = forward.get("mode", "nat") if forward is not None else None
    if mode == "hostdev":
        return "hostdev"
    if mode in MACVTAP_FORWARD_MODES or (mode == "bridge" and root.find("bridge") is None):
        return "macvtap"  # a bridge-mode network without a bridge is a macvtap pool
    if root.find("virtualport[@type='openvswitch']") is not None:
        return "ovs"
    return "tap"


def resolve_current(lv: Libvirt, state: VnicState, known: dict[str, Attachment]) -> Vnic:
    """The vNIC as it is, with its attachment known (its network may be gone by now)."""
    vnic = state.vnic
    if state.target_dev:  # a running card: read_vm knows its attachment
        return vnic
    try:
        return resolve(lv, vnic, known, current=vnic)  # as it is: not checked again
    except (NetworkNotFound, InvalidInput):
        return vnic  # planned as it is; a change that needs the source says so itself


def ensure_blackhole(lv: Libvirt) -> None:
    """plugboard's network for vNICs with no network: a bridge with nothing behind it."""
    try:
        net = lv.network(BLACKHOLE)
    except NetworkNotFound:
        net = lv.define_network(BLACKHOLE_XML)
        net.set_autostart(True)
    if not net.is_active():
        net.create()


def check_network_active(lv: Libvirt, network: str) -> None:
    """NETWORK_INACTIVE unless the network runs: a card cannot join a stopped network."""
    if not lv.network(network).is_active():
        raise NetworkInactive(
            f"network '{network}' is not active; start it first: plugboard net-start {network}",
            network=network,
        )
