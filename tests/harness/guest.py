"""Booted test guests and the command channel into them.

The guest (scripts/guest/) runs an agent on its second serial port, which QEMU binds to a UNIX
socket. The host writes `ID SECONDS BASE64(script)`; the guest answers `@@BEGIN ID`, the output
in base64, and `@@END ID STATUS`. Lines that do not belong to the call in flight are ignored,
so output of an earlier, abandoned call never leaks into a later one.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import socket
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import libvirt

from tests.harness.testhost import REPO, TestHost

GUEST_DIR = REPO / "build" / "guest"
KERNEL = GUEST_DIR / "vmlinuz"
INITRD = GUEST_DIR / "initrd.img"
SPARE_ROOT_PORTS = 4  # empty PCIe root ports, one per NIC a test may hot-plug


class GuestError(AssertionError):
    """The guest did not do what the test waited for; carries the tail of its console."""


@dataclass(frozen=True)
class CommandResult:
    status: int
    output: str


@dataclass(frozen=True)
class GuestNic:
    """A NIC as the guest itself sees it."""

    name: str
    mac: str
    pci_address: str
    carrier: int
    addresses: tuple[ipaddress.IPv4Interface, ...]


class Agent:
    """Client of the guest's command channel; one call at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self, deadline: float) -> socket.socket:
        while self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.path))
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            else:
                self._sock, self._buffer = sock, b""
        return self._sock

    def call(self, script: str, timeout: float) -> CommandResult | None:
        """Send one script; None when no answer came in `timeout` seconds."""
        with self._lock:
            deadline = time.monotonic() + timeout
            sock = self._connect(deadline)
            call_id = f"c{next(self._ids)}"
            limit = max(1, int(timeout))
            encoded = base64.b64encode(script.encode()).decode()
            sock.sendall(f"{call_id} {limit} {encoded}\n".encode())
            begin, end = f"@@BEGIN {call_id}".encode(), f"@@END {call_id} ".encode()
            while True:
                lines = self._buffer.split(b"\n")
                if begin in lines:
                    start = lines.index(begin)
                    for i in range(start + 1, len(lines) - 1):
                        if lines[i].startswith(end):
                            self._buffer = b"\n".join(lines[i + 1 :])
                            output = base64.b64decode(b"".join(lines[start + 1 : i]))
                            status = int(lines[i][len(end) :])
                            return CommandResult(status, output.decode(errors="replace"))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    return None
                if not chunk:
                    self.close()
                    raise ConnectionError(f"the guest closed its command channel {self.path}")
                self._buffer += chunk


class Guest:
    """A running test guest: its libvirt domain and a way to run commands inside it."""

    def __init__(self, host: TestHost, dom: libvirt.virDomain) -> None:
        self.host = host
        self.dom = dom
        self.name = dom.name()
        self.agent = Agent(host.guest_dir / f"{self.name}.agent")

    @property
    def console_log(self) -> Path:
        return self.host.guest_dir / f"{self.name}.console"

    def console_tail(self, lines: int = 30) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError as err:
            return f"(no console log: {err})"
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, message: str) -> GuestError:
        return GuestError(f"{self.name}: {message}\n--- console ---\n{self.console_tail()}")

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the agent answers (the guest has booted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.agent.call("true", timeout=1) is not None:
                return
        raise self._fail(f"the guest agent did not answer within {timeout} s")

    def reconnect(self, timeout: float = 60) -> None:
        """After the VM was started again: a new agent socket, a new boot to wait for."""
        self.agent.close()
        self.wait_ready(timeout)

    def run(self, script: str, timeout: float = 30) -> CommandResult:
        result = self.agent.call(script, timeout)
        if result is None:
            raise self._fail(f"no answer to {script!r} within {timeout} s")
        return result

    def check(self, script: str, timeout: float = 30) -> str:
        """Run a script that must succeed; return its output."""
        result = self.run(script, timeout)
        if result.status != 0:
            raise self._fail(f"{script!r} exited {result.status}: {result.output}")
        return result.output

    def nics(self) -> dict[str, GuestNic]:
        """Every PCI NIC the guest sees, by interface name."""
        out = self.check(
            "for d in /sys/class/net/*; do [ -e $d/device ] || continue;"
            " echo NIC ${d##*/} $(cat $d/address) $(basename $(readlink -f $d/device/..))"
            " $(cat $d/carrier 2>/dev/null || echo 0); done; ip -4 -o addr show"
        )
        nics, addresses = {}, {}
        for line in out.splitlines():
            fields = line.split()
            if fields and fields[0] == "NIC":
                nics[fields[1]] = fields[2:]
            elif len(fields) > 3 and fields[2] == "inet":
                addresses.setdefault(fields[1], []).append(ipaddress.ip_interface(fields[3]))
        return {
            name: GuestNic(name, mac, pci, int(carrier), tuple(addresses.get(name, ())))
            for name, (mac, pci, carrier) in nics.items()
        }

    def nic_by_mac(self, mac: str) -> GuestNic | None:
        return next((nic for nic in self.nics().values() if nic.mac == mac.lower()), None)

    def wait_for(self, what: str, predicate, timeout: float = 30, interval: float = 0.2):
        """Poll `predicate()` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise self._fail(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    def wait_for_address(
        self, mac: str, subnet: ipaddress.IPv4Network, timeout: float = 30
    ) -> ipaddress.IPv4Interface:
        """Wait until the NIC with `mac` has an address in `subnet`; return it."""

        def address():
            nic = self.nic_by_mac(mac)
            return next((a for a in nic.addresses if a in subnet), None) if nic else None

        return self.wait_for(f"the NIC {mac} to get an address in {subnet}", address, timeout)

    def macs(self) -> list[str]:
        """MACs of the domain's interfaces, in device order, from libvirt's live XML."""
        root = ET.fromstring(self.dom.XMLDesc())
        return [mac.get("address") for mac in root.iterfind("./devices/interface/mac")]

    def interface_xml(self, alias: str) -> ET.Element:
        """The live <interface> element of the vNIC with user alias `alias`."""
        root = ET.fromstring(self.dom.XMLDesc())
        for iface in root.iterfind("./devices/interface"):
            found = iface.find("alias")
            if found is not None and found.get("name") == alias:
                return iface
        raise KeyError(f"{self.name} has no interface with alias {alias}")


@dataclass
class NicSpec:
    """A NIC to boot a guest with, with a user alias (None: none, as virsh makes them): on a
    libvirt network (the default), or
    kind "ovs" (a port of Open vSwitch bridge `bridge`, with `vlan` or `trunk`) or "direct"
    (a macvtap on host interface `dev` in `mode`)."""

    network: str | None
    alias: str | None
    mac: str | None = None
    link_up: bool = True
    model: str = "virtio"
    kind: str = "network"
    bridge: str | None = None
    dev: str | None = None
    mode: str = "bridge"
    vlan: int | None = None
    trunk: list[int] | None = None


def interface_element(spec: NicSpec) -> ET.Element:
    iface = ET.Element("interface", type={"ovs": "bridge"}.get(spec.kind, spec.kind))
    if spec.mac:
        ET.SubElement(iface, "mac", address=spec.mac)
    if spec.kind == "network":
        ET.SubElement(iface, "source", network=spec.network)
    elif spec.kind == "ovs":
        ET.SubElement(iface, "source", bridge=spec.bridge)
        ET.SubElement(iface, "virtualport", type="openvswitch")
    else:
        ET.SubElement(iface, "source", dev=spec.dev, mode=spec.mode)
    if spec.vlan is not None or spec.trunk:
        vlan = ET.SubElement(iface, "vlan", **({"trunk": "yes"} if spec.trunk else {}))
        for tag in spec.trunk or [spec.vlan]:
            ET.SubElement(vlan, "tag", id=str(tag))
    ET.SubElement(iface, "model", type=spec.model)
    if not spec.link_up:
        ET.SubElement(iface, "link", state="down")
    if spec.alias is not None:
        ET.SubElement(iface, "alias", name=spec.alias)
    return iface


class GuestFactory:
    """Boots guests on one test host; `cleanup()` destroys every one it booted."""

    _serial = itertools.count(1)

    def __init__(self, host: TestHost) -> None:
        self.host = host
        self.booted: list[Guest] = []
        for path in (KERNEL, INITRD):
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run `make guest`")

    def domain_xml(self, name: str, nics: list[NicSpec], memory_mib: int = 160) -> str:
        guest_dir = self.host.guest_dir
        dom = ET.Element("domain", type="qemu")  # TCG: kvm-pvm here crashes stock kernels
        ET.SubElement(dom, "name").text = name
        ET.SubElement(dom, "memory", unit="MiB").text = str(memory_mib)
        ET.SubElement(dom, "vcpu").text = "1"
        os_ = ET.SubElement(dom, "os")
        ET.SubElement(os_, "type", arch="x86_64", machine="q35").text = "hvm"
        ET.SubElement(os_, "kernel").text = str(KERNEL)
        ET.SubElement(os_, "initrd").text = str(INITRD)
        ET.SubElement(os_, "cmdline").text = f"console=ttyS0 panic=-1 pb.hostname={name}"
        ET.SubElement(ET.SubElement(dom, "features"), "acpi")  # PCI hot-plug needs ACPI
        for event in ("on_poweroff", "on_reboot", "on_crash"):
            ET.SubElement(dom, event).text = "destroy"
        devices = ET.SubElement(dom, "devices")
        for spec in nics:
            devices.append(interface_element(spec))
        ET.SubElement(devices, "controller", type="pci", index="0", model="pcie-root")
        for _ in range(SPARE_ROOT_PORTS):
            ET.SubElement(devices, "controller", type="pci", model="pcie-root-port")
        console = ET.SubElement(devices, "serial", type="file")
        ET.SubElement(console, "source", path=str(guest_dir / f"{name}.console"))
        ET.SubElement(console, "target", port="0")
        agent = ET.SubElement(devices, "serial", type="unix")
        ET.SubElement(agent, "source", mode="bind", path=str(guest_dir / f"{name}.agent"))
        ET.SubElement(agent, "target", port="1")
        ET.SubElement(devices, "controller", type="usb", model="none")
        ET.SubElement(devices, "memballoon", model="none")
        return ET.tostring(dom, encoding="unicode")

    def boot(
        self,
        *networks: str,
        name: str | None = None,
        nics: list[NicSpec] | None = None,
        wait: bool = True,
        persistent: bool = False,
    ) -> Guest:
        """Boot a guest with one virtio NIC per network (aliases ua-nic1, ...), or `nics`;
        `persistent`: a defined VM (it can be stopped and started again), not a transient one."""
        name = name or f"pbtest-g{next(self._serial)}"
        nics = (
            nics
            if nics is not None
            else [NicSpec(network=net, alias=f"ua-nic{i}") for i, net in enumerate(networks, 1)]
        )
        xml = self.domain_xml(name, nics)
        if persistent:
            dom = self.host.conn.defineXML(xml)
            dom.create()
        else:
            dom = self.host.conn.createXML(xml)
        guest = Guest(self.host, dom)
        self.booted.append(guest)
        if wait:
            guest.wait_ready()
        return guest

    def refresh(self) -> None:
        """Look each guest's domain up again on the host's (re)opened connection: after its
        libvirtd restarted, the old handles are dead."""
        for guest in self.booted:
            guest.dom = self.host.conn.lookupByName(guest.name)

    def cleanup(self) -> None:
        for guest in reversed(self.booted):
            guest.agent.close()
            try:
                guest.dom.destroy()
            except libvirt.libvirtError as err:
                if err.get_error_code() not in (
                    libvirt.VIR_ERR_NO_DOMAIN,
                    libvirt.VIR_ERR_OPERATION_INVALID,
                ):
                    raise
            try:
                if guest.dom.isPersistent():
                    guest.dom.undefine()
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
            for suffix in (".console", ".agent"):
                (self.host.guest_dir / f"{guest.name}{suffix}").unlink(missing_ok=True)
        self.booted.clear()
