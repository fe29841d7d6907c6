"""Each subscriber of a host's feed hears the events in the order libvirt raised them, one at a
time, even though the host has several threads (the audit log once read a network's
"undefined" before its "stopped")."""

from __future__ import annotations

import threading
import time

from plugboard.hosts import feed
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.model import HostEvent


def test_each_subscriber_hears_events_in_order_while_another_is_slow():
    slow_heard: list[str] = []
    fast_heard: list[str] = []
    inside = threading.Semaphore(0)
    overlap: list[str] = []
    busy = threading.Lock()

    def slow(event: HostEvent, _lv: Libvirt) -> None:
        if event.kind != "network":  # the host's own "connected"
            return
        if not busy.acquire(blocking=False):
            overlap.append(event.name)  # two deliveries to one subscriber at once
            return
        try:
            if event.name == "0":
                inside.release()
                time.sleep(0.3)  # the others queue up behind it, on the other threads' watch
            slow_heard.append(event.name)
        finally:
            busy.release()

    def fast(event: HostEvent, _lv: Libvirt) -> None:
        if event.kind == "network":
            fast_heard.append(event.name)

    subscribers = feed.Subscribers()
    subscribers.subscribe(slow)
    subscribers.subscribe(fast)
    host = HostConnection("h", "test:///default", workers=4, subscribers=subscribers)
    try:
        names = [str(i) for i in range(40)]
        host.publish(HostEvent("h", "network", names[0], "stopped"))
        assert inside.acquire(timeout=30)
        for name in names[1:]:
            host.publish(HostEvent("h", "network", name, "stopped"))
        deadline = time.monotonic() + 30
        while len(slow_heard) < len(names) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slow_heard == names
        assert fast_heard == names
        assert overlap == []
    finally:
        host.close()
