"""The one event feed of each host.

Each host connection registers once for libvirt's network and domain events and hands every
event to every subscriber (the audit log, reconcile and recovery, the web UI's live pages,
bulk operations): consumers subscribe to the feed, never to libvirt. Besides libvirt's events,
the feed tells of the host itself: `connected` after every (re)connection (what happened while
it was away is read then), and a periodic `tick`, the moment for a full read that repairs
events that were missed. Subscribers run on the host's threads with its libvirt adapter;
libvirt's event loop thread only hands events over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import libvirt

from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.errors import error_message
from plugboard.hosts.model import HostEvent

log = logging.getLogger(__name__)
Subscriber = Callable[[HostEvent, Libvirt], None]
Deliver = Callable[[HostEvent], None]

NETWORK_EVENTS = {
    libvirt.VIR_NETWORK_EVENT_DEFINED: "defined",
    libvirt.VIR_NETWORK_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_NETWORK_EVENT_STARTED: "started",
    libvirt.VIR_NETWORK_EVENT_STOPPED: "stopped",
}
DOMAIN_EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined",
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
}


class Subscribers:
    """Who hears the feeds of all hosts (the registry hands the same list to each host)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._all.append(subscriber)

    def all(self) -> list[Subscriber]:
        with self._lock:
            return list(self._all)


def register(conn: libvirt.virConnect, host: str, deliver: Deliver) -> None:
    """Register for the host's network and domain events on a new connection (libvirt drops
    registrations with the connection). A driver without events still serves reads."""

    def network(_conn: object, net: libvirt.virNetwork, event: int, _detail: int, _o: object):
        deliver(HostEvent(host, "network", net.name(), NETWORK_EVENTS.get(event, f"{event}")))

    def lifecycle(_conn: object, dom: libvirt.virDomain, event: int, _detail: int, _o: object):
        what = DOMAIN_EVENTS.get(event)
        if what is not None:
            deliver(HostEvent(host, "domain", dom.name(), what, dom.UUIDString()))

    def device(what: str) -> Callable[..., None]:
        def handler(_conn: object, dom: libvirt.virDomain, alias: str, _o: object) -> None:
            deliver(HostEvent(host, "domain", dom.name(), what, dom.UUIDString(), alias))

        return handler

    registrations = [
        (conn.networkEventRegisterAny, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, network),
        (conn.domainEventRegisterAny, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle),
        (
            conn.domainEventRegisterAny,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
            device("device-removed"),
        ),
        (
            conn.domainEventRegisterAny,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
            device("device-added"),
        ),
        (
            conn.domainEventRegisterAny,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED,
            device("device-removal-failed"),
        ),
    ]
    for register_any, event_id, handler in registrations:
        try:
            register_any(None, event_id, handler, None)
        except libvirt.libvirtError as err:
            log.warning("host %s: no events of kind %s: %s", host, event_id, error_message(err))
