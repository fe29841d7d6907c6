"""What plugboard has seen a running guest do: whether it has let a hot-unplugged card go
since it started. A guest still booting, or without ACPI PCI hot-plug, ignores an unplug
request, and the unplug times out; the plan warns when the guest has not shown it answers.

Kept in this process's memory per run of a VM (libvirt gives a VM a new id at each start): a
restart of the service forgets it, and the next plan warns once more."""

from __future__ import annotations

from plugboard.hosts.adapter import LibvirtDomain

_RELEASED: set[tuple[str, str, int]] = set()

UNPLUG_UNTESTED = (
    "the guest has not let a hot-unplugged card go since it started (as far as this service "
    "has seen): if it is still booting or has no ACPI PCI hot-plug, the unplug waits for the "
    "hot-unplug timeout and then fails, changing nothing"
)


def _run(dom: LibvirtDomain) -> tuple[str, str, int]:
    return (dom.host, dom.uuid, dom.run_id())


def released_a_card(dom: LibvirtDomain) -> None:
    _RELEASED.add(_run(dom))


def has_released_a_card(dom: LibvirtDomain) -> bool:
    return _run(dom) in _RELEASED
