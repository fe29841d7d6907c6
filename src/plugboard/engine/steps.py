"""The steps a vNIC change is made of: each one libvirt action, its undo, and a check, read from
libvirt, of whether it has been done. Steps are plain data (the journal keeps them), so a
change interrupted by a crash can be finished or undone by any service process later.

Cards are named by their MAC: a card's MAC is what libvirt matches devices by, and a step
between an unplug and a plug of the same MAC is told apart by the journal's count of the
steps done (recovery checks only the first step not known to be done).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from lxml import etree

from plugboard.engine import guests
from plugboard.engine.vm_state import read_vm
from plugboard.errors import HotunplugTimeout, PlugboardError, UpdateVnicFailed
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.vnic.metadata import NS, NS_KEY, metadata_xml_of
from plugboard.vnic.model import vnic_from_json
from plugboard.vnic.xml import (
    BLACKHOLE,
    interface_for,
    interface_of,
    parse_interface,
    vnic_from,
    without_address,
)

log = logging.getLogger(__name__)
UNPLUG_POLL = 0.02
# How long a reconnected card's cable stays out: long enough for a guest that polls its
# carrier (not only one told by the kernel at once) to see it, and ask for a lease again.
CABLE_OUT = 1.5


@dataclass
class StepContext:
    """What steps act on: the VM, its host's libvirt, and how long a guest has to let go."""

    lv: Libvirt
    dom: LibvirtDomain
    persistent: bool
    hotunplug_timeout: float = 30.0
    notes: list[str] = field(default_factory=list)


class Step:
    """One action of a change. `name` is the boundary the executor reports around it."""

    name: ClassVar[str]

    def do(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def undo(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def done(self, ctx: StepContext) -> bool:
        """Whether libvirt shows this step's effect."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        return {"step": self.name, **asdict(self)}  # type: ignore[call-overload]


# --- reading cards ---------------------------------------------------------------------------
def _card(dom: LibvirtDomain, mac: str, inactive: bool = False) -> etree._Element | None:
    for element in dom.tree(inactive).iterfind("./devices/interface"):
        if str(element.xpath("string(mac/@address)")).lower() == mac.lower():
            return element
    return None


def _mac(card: str) -> str:
    return str(etree.fromstring(card.encode()).xpath("string(mac/@address)")).lower()


def _as_defined(live: etree._Element) -> str:
    """A running card as it goes into the definition: without what libvirt names at run time."""
    iface = interface_of(live)
    return interface_for(vnic_from(iface, None, plugged=True), iface).format()


# --- the steps -------------------------------------------------------------------------------
@dataclass
class UpdateCard(Step):
    """A live update (and of the definition, `config`): the card stays in its slot."""

    name: ClassVar[str] = "update"
    old: str
    new: str
    vnic: str
    desired: dict[str, Any]
    config: bool

    def do(self, ctx: StepContext) -> None:
        ctx.dom.update_device(self.new, live=True, config=self.config)

    def undo(self, ctx: StepContext) -> None:
        ctx.dom.update_device(self.old, live=True, config=self.config)

    def done(self, ctx: StepContext) -> bool:
        live = _card(ctx.dom, _mac(self.new))
        if live is None:
            return False
        return vnic_from(interface_of(live), None, True).same_as(
            vnic_from(parse_interface(self.new), None, True)
        )


@dataclass
class Unplug(Step):
    """Hot-unplug: the guest must let the card go (within the hot-unplug timeout)."""

    name: ClassVar[str] = "unplug"
    card: str
    vnic: str

    def do(self, ctx: StepContext) -> None:
        try:
            ctx.dom.detach_device(self.card, live=True, config=False)
        except PlugboardError as err:
            if not err.libvirt_code:
                raise
            if _card(ctx.dom, _mac(self.card)) is None:
                return  # gone already
            # Asked again after an interruption: the guest may be letting it go already.
            log.info("%s: unplug of %s asked again: %s", ctx.dom.name, self.vnic, err.detail)
        wait_released(ctx, _mac(self.card), self.vnic)
        guests.released_a_card(ctx.dom)

    def undo(self, ctx: StepContext) -> None:
        ctx.dom.attach_device(self.card, live=True, config=False)

    def done(self, ctx: StepContext) -> bool:
        return _card(ctx.dom, _mac(self.card)) is None


def wait_released(ctx: StepContext, mac: str, vnic: str) -> None:
    deadline = time.monotonic() + ctx.hotunplug_timeout
    while _card(ctx.dom, mac) is not None:
        if time.monotonic() > deadline:
            raise HotunplugTimeout(
                f"the guest did not release vNIC {vnic} within {ctx.hotunplug_timeout:g} s; it "
                "is still plugged (if the guest releases it later, it becomes unplugged)"
            )
        time.sleep(UNPLUG_POLL)


@dataclass
class UnplugConfig(Step):
    """Take the card out of the definition."""

    name: ClassVar[str] = "unplug-config"
    card: str

    def do(self, ctx: StepContext) -> None:
        ctx.dom.detach_from_definition(self.card)

    def undo(self, ctx: StepContext) -> None:
        ctx.dom.attach_device(self.card, live=False, config=True)

    def done(self, ctx: StepContext) -> bool:
        return _card(ctx.dom, _mac(self.card), inactive=True) is None


@dataclass
class Plug(Step):
    """Hot-plug; with `any_slot`, a card whose slot was taken meanwhile goes into another."""

    name: ClassVar[str] = "plug"
    card: str
    vnic: str
    any_slot: bool = False

    def do(self, ctx: StepContext) -> None:
        try:
            ctx.dom.attach_device(self.card, live=True, config=False)
        except PlugboardError as err:
            card = parse_interface(self.card)
            if not self.any_slot or card.address is None or not err.libvirt_code:
                raise
            log.info("%s: %s did not go back into its slot (%s)", ctx.dom.name, self.vnic, err)
            ctx.dom.attach_device(without_address(card).format(), live=True, config=False)
            ctx.notes.append("its old PCI slot was taken; it went into another one")
        if _card(ctx.dom, _mac(self.card)) is None:
            raise UpdateVnicFailed("the card is not in the VM after hot-plug")

    def undo(self, ctx: StepContext) -> None:
        live = _card(ctx.dom, _mac(self.card))
        if live is not None:
            ctx.dom.detach_device(etree.tostring(live, encoding="unicode"), live=True, config=False)
            wait_released(ctx, _mac(self.card), self.vnic)

    def done(self, ctx: StepContext) -> bool:
        return _card(ctx.dom, _mac(self.card)) is not None


@dataclass
class PlugConfig(Step):
    """Write the plugged card into the definition with the slot it got, so the running VM and
    its next start agree."""

    name: ClassVar[str] = "plug-config"
    mac: str

    def do(self, ctx: StepContext) -> None:
        live = _card(ctx.dom, self.mac)
        if live is None:
            raise UpdateVnicFailed(f"the card {self.mac} is not in the VM")
        if _card(ctx.dom, self.mac, inactive=True) is not None:
            return  # the definition has it already (a card lost from the running VM only)
        ctx.dom.attach_device(_as_defined(live), live=False, config=True)

    def undo(self, ctx: StepContext) -> None:
        defined = _card(ctx.dom, self.mac, inactive=True)
        if defined is not None:
            ctx.dom.detach_from_definition(etree.tostring(defined, encoding="unicode"))

    def done(self, ctx: StepContext) -> bool:
        return _card(ctx.dom, self.mac, inactive=True) is not None


@dataclass
class WriteRecords(Step):
    """Write plugboard's record in the domain's metadata (running VM and definition)."""

    name: ClassVar[str] = "record"
    old: str | None
    new: str | None
    config: bool

    def do(self, ctx: StepContext) -> None:
        ctx.dom.set_metadata(self.new, NS_KEY, NS, config=self.config)

    def undo(self, ctx: StepContext) -> None:
        ctx.dom.set_metadata(self.old, NS_KEY, NS, config=self.config)

    def done(self, ctx: StepContext) -> bool:
        return metadata_xml_of(ctx.dom.tree()) == self.new


@dataclass
class Mark(WriteRecords):
    """The record names the change under way (before its first libvirt change)."""

    name: ClassVar[str] = "mark"


@dataclass
class Define(Step):
    """A stopped VM: its whole new definition at once."""

    name: ClassVar[str] = "define"
    old: str
    new: str
    vnic: str
    desired: dict[str, Any] | None

    def do(self, ctx: StepContext) -> None:
        ctx.lv.define_domain(self.new)

    def undo(self, ctx: StepContext) -> None:
        ctx.lv.define_domain(self.old)

    def done(self, ctx: StepContext) -> bool:
        now = read_vm(ctx.dom, running=False).vnics.get(self.vnic)
        if self.desired is None:
            return now is None
        return now is not None and now.vnic.same_as(vnic_from_json(self.desired))


@dataclass
class Reconnect(Step):
    """Put a running card's tap back on its network's bridge: a network restart leaves taps
    off it and libvirt does not put them back. Wiring the card to plugboard's black-hole
    network (cable out) and back, live, makes libvirt plug a fresh tap in; the card keeps its
    slot, and the guest, seeing its cable come back, renews its lease."""

    name: ClassVar[str] = "reconnect"
    card: str

    def do(self, ctx: StepContext) -> None:
        away = etree.fromstring(self.card.encode())
        for old in away.findall("source") + away.findall("link"):
            away.remove(old)
        etree.SubElement(away, "source", network=BLACKHOLE)
        # The cable out and back in: the guest asks its network's DHCP server again.
        etree.SubElement(away, "link", state="down")
        ctx.dom.update_device(etree.tostring(away, encoding="unicode"), live=True, config=False)
        time.sleep(CABLE_OUT)
        ctx.dom.update_device(self.card, live=True, config=False)

    def undo(self, ctx: StepContext) -> None:
        ctx.dom.update_device(self.card, live=True, config=False)

    def done(self, ctx: StepContext) -> bool:
        return False  # nothing in the XML tells: done again, it does no harm


STEPS: dict[str, type[Step]] = {
    cls.name: cls
    for cls in (
        UpdateCard,
        Unplug,
        UnplugConfig,
        Plug,
        PlugConfig,
        WriteRecords,
        Mark,
        Define,
        Reconnect,
    )
}


def step_from_json(data: dict[str, Any]) -> Step:
    fields = dict(data)
    return STEPS[fields.pop("step")](**fields)
