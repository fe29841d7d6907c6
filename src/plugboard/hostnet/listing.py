"""Host interfaces: NICs, bonds, bridges, VLANs, macvtaps and Open vSwitch bridges.

On a host whose libvirtd runs on this machine (its URI names a local socket), plugboard reads
them the way the host sees them: over netlink in libvirtd's network namespace, and from the
Open vSwitch database that libvirtd's ovs-vsctl uses (/run/openvswitch/db.sock as libvirtd sees
it). A remote host reached over SSH (qemu+ssh://) is read over netlink by the agent run
there (plugboard.hostnet.sshagent); any other remote host, or one whose SSH fails, through
libvirt's interface and node-device APIs, which see less. The listing says which source it
used and what that source cannot see.
"""

from __future__ import annotations

import logging

from lxml import etree

from plugboard.errors import HostError, HostInterfaceNotFound, InvalidInput, OvsBridgeNotFound
from plugboard.hostnet import netlink, ovsdb, remote, sshagent
from plugboard.hostnet.model import HostInterface, Listing
from plugboard.hostnet.ssh import SshTarget
from plugboard.hosts.adapter import Libvirt

log = logging.getLogger(__name__)


def local_endpoints(uri: str) -> tuple[str | None, str] | None:
    """(network namespace, OVSDB endpoint) of a host whose libvirtd runs here, or None."""
    path = netlink.daemon_socket(uri)
    if path is None:
        return None
    pid = netlink.daemon_pid(path)
    # /proc/PID/root is libvirtd's view of the file system (its mount namespace).
    return netlink.netns_of(pid), f"unix:/proc/{pid}/root/run/openvswitch/db.sock"


def read(lv: Libvirt, source: str = "auto", usage: bool = True) -> Listing:
    """The host's interfaces; `source` auto (netlink + OVSDB when libvirtd runs on this
    machine, libvirt otherwise), host (netlink + OVSDB or an error) or libvirt."""
    cannot_see: list[str] = []
    listing = _from_the_host(lv, cannot_see) if source != "libvirt" else None
    if listing is None and source == "host":
        why = "; ".join(cannot_see) or "this host's libvirtd does not run on this machine"
        raise InvalidInput(
            f"cannot read the interfaces from the host itself: {why}; "
            "source=libvirt reads them through libvirt",
            field="source",
        )
    if listing is None:
        listing = Listing("libvirt", cannot_see + remote.CANNOT_SEE, remote.read(lv))
    if usage:
        _add_usage(lv, listing)
    return listing


def _from_the_host(lv: Libvirt, cannot_see: list[str]) -> Listing | None:
    """netlink (and OVSDB) in the namespaces of a libvirtd that runs on this machine; None
    when it does not, or when its namespace cannot be entered (`cannot_see` says why)."""
    try:
        local = local_endpoints(lv.uri)
        if local is None:
            return _over_ssh(lv.uri, cannot_see)
        netns, endpoint = local
        listing = Listing("netlink", cannot_see, netlink.read(netns))
    except OSError as err:  # not allowed into libvirtd's namespace (not root?)
        cannot_see.append(f"netlink: cannot enter libvirtd's namespace ({err.strerror})")
        return None
    try:
        _merge_ovs(listing, ovsdb.read(endpoint))
        listing.source = "netlink+ovsdb"
    except ovsdb.OvsdbUnavailable as err:
        listing.cannot_see.append(f"Open vSwitch: {err} (is it running?)")
    return listing


def _over_ssh(uri: str, cannot_see: list[str]) -> Listing | None:
    """netlink on a remote host, read by the agent run there over SSH; None when the URI is
    not reached over SSH, or SSH fails (`cannot_see` says why)."""
    target = SshTarget.from_uri(uri)
    if target is None:
        return None
    try:
        found = sshagent.read(target)
    except HostError as err:
        cannot_see.append(f"netlink over SSH: {err}")
        return None
    ovs = "Open vSwitch bridges and their ports (OVSDB is not read over SSH yet)"
    return Listing("netlink", [*cannot_see, ovs], found)


def _merge_ovs(listing: Listing, state: ovsdb.OvsState) -> None:
    for name, bridge in state.bridges.items():
        iface = listing.find(name)
        if iface is None:  # a bridge without its internal interface (not created yet)
            iface = HostInterface(name=name, type="ovs-bridge", state="unknown")
            listing.interfaces.append(iface)
        iface.type = "ovs-bridge"
        iface.ports = list(bridge["ports"])
        iface.ovs = {"datapath_type": bridge["datapath_type"], "layout": bridge["layout"]}
    for name, port in state.interfaces.items():
        iface = listing.find(name)
        if iface is None or name == port["bridge"]:
            continue
        iface.master = port["bridge"]
        iface.ovs = {k: v for k, v in port.items() if k != "vm"}
    for iface in listing.interfaces:
        if iface.name in ("ovs-system", "ovs-netdev"):
            iface.type = "ovs-datapath"
    listing.interfaces.sort(key=lambda i: i.name)


def _add_usage(lv: Libvirt, listing: Listing) -> None:
    """Which VMs and libvirt networks use each interface: a VM's tap or macvtap, the bridge or
    device its vNICs are wired to; a network's bridge and the devices it forwards to."""
    users: dict[str, list[dict[str, str]]] = {}

    def use(name: str | None, kind: str, who: str) -> None:
        if name:
            entry = {"kind": kind, "name": who}
            if entry not in users.setdefault(name, []):
                users[name].append(entry)

    for net in lv.networks():
        root = etree.fromstring(net.xml().encode())
        bridge = root.find("bridge")
        use(bridge.get("name") if bridge is not None else None, "network", net.name)
        forward = root.find("forward")
        if forward is not None:
            use(forward.get("dev"), "network", net.name)
            for dev in forward.iterfind("interface"):
                use(dev.get("dev"), "network", net.name)
            for pf in forward.iterfind("pf"):
                use(pf.get("dev"), "network", net.name)
    for dom, root in lv.definitions():
        for card in root.iterfind("devices/interface"):
            use(_attr(card, "target", "dev"), "vm", dom.name)
            use(_attr(card, "source", "bridge"), "vm", dom.name)
            use(_attr(card, "source", "dev"), "vm", dom.name)
    for iface in listing.interfaces:
        iface.used_by = users.get(iface.name, [])


def _attr(node: etree._Element, child: str, name: str) -> str | None:
    found = node.find(child)
    return found.get(name) if found is not None else None


def check_source(lv: Libvirt, kind: str, name: str) -> None:
    """HOST_INTERFACE_NOT_FOUND / OVS_BRIDGE_NOT_FOUND unless the host has what a vNIC
    source names: `kind` macvtap (any interface), bridge (a Linux bridge) or ovs. Reads only
    what it needs: OVSDB for an OVS bridge, netlink for the others."""
    try:
        local = local_endpoints(lv.uri)
    except OSError as err:
        log.info("host %s: checking '%s' through libvirt (%s)", lv.host, name, err.strerror)
        local = None
    field = "source.dev" if kind == "macvtap" else "source.bridge"
    if local is None:  # through libvirt, which sees less: only that the name exists
        if read(lv, "libvirt", usage=False).find(name) is None:
            error = OvsBridgeNotFound if kind == "ovs" else HostInterfaceNotFound
            raise error(f"the host has no interface '{name}' that libvirt reports", field=field)
        return
    netns, endpoint = local
    if kind == "ovs":
        try:
            bridges = ovsdb.read(endpoint).bridges
        except ovsdb.OvsdbUnavailable as err:
            raise OvsBridgeNotFound(
                f"no Open vSwitch bridge '{name}': {err}; is Open vSwitch running on the host?",
                field=field,
            ) from None
        if name not in bridges:
            known = ", ".join(sorted(bridges)) or "none"
            raise OvsBridgeNotFound(
                f"the host has no Open vSwitch bridge '{name}' (it has: {known})", field=field
            )
        return
    iface = next((i for i in netlink.read(netns) if i.name == name), None)
    if iface is None:
        raise HostInterfaceNotFound(
            f"the host has no interface '{name}'; `plugboard iface-list` shows them", field=field
        )
    if kind == "bridge" and iface.type != "bridge":
        raise HostInterfaceNotFound(
            f"'{name}' is not a Linux bridge; an Open vSwitch bridge needs a source of type ovs",
            field=field,
        )
