"""After a live re-wire with the cable in, QEMU announces the guest on its new segment (RARP,
or a gratuitous ARP from a virtio guest), so switches learn where the MAC is now.

The announcement is sent shortly after the answer, under the VM's lock (never racing the
VM's next change), and only if the VM has not changed meanwhile: a burst of re-wires of one
VM is announced once, where the card ended up. QEMU itself waits 50 ms before its first
round. libvirt marks such a domain "tainted: custom-monitor" in its log.
"""

from __future__ import annotations

import json
import logging
import threading

from plugboard.errors import PlugboardError
from plugboard.hosts.adapter import Libvirt, LibvirtDomain
from plugboard.hosts.connection import HostConnection
from plugboard.vnic import Vnic

log = logging.getLogger(__name__)
DELAY = 0.02
# Changes made to each VM (host, uuid) so far: an announcement still waiting when the VM
# changes again is dropped.
_changes: dict[tuple[str, str], int] = {}


def command_for(current: Vnic, desired: Vnic) -> str | None:
    """The QMP command that announces `desired`, when a live re-wire moved its cable."""
    if current.source == desired.source or not desired.active or desired.source is None:
        return None
    return json.dumps(
        {
            "execute": "announce-self",
            "arguments": {
                "initial": 50,
                "max": 550,
                "rounds": 5,
                "step": 100,
                "interfaces": [desired.alias],
                "id": desired.alias,
            },
        }
    )


def count_change(key: tuple[str, str]) -> int:
    """A change of the VM `key` was made (call with its lock held); the changes so far."""
    _changes[key] = _changes.get(key, 0) + 1
    return _changes[key]


def changes(key: tuple[str, str]) -> int:
    return _changes.get(key, 0)


def schedule(
    host: HostConnection,
    lock: threading.Lock,
    key: tuple[str, str],
    seen: int,
    dom: LibvirtDomain,
    command: str,
) -> None:
    """Announce in DELAY seconds, on the host's threads, unless the VM changed again."""

    def announce(_lv: Libvirt) -> None:
        with lock:
            if _changes.get(key) == seen:
                send(dom, command)

    timer = threading.Timer(DELAY, lambda: host.submit(announce))
    timer.daemon = True
    timer.start()


def send(dom: LibvirtDomain, command: str) -> None:
    """Ask QEMU to announce the guest; a failure is logged, never a failed change: the card
    is wired either way."""
    try:
        dom.monitor(command)
    except PlugboardError as err:
        log.warning("%s: the guest was not announced on its new network: %s", dom.name, err.detail)
