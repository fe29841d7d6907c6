"""The desired state as the agent on a host reads it: the JSON of a NetworkState
(plugboard.hostnet.desired), seen through plain objects with the same attribute names.

Why not the pydantic model itself: the agent is shipped to remote hosts as a zip archive that
holds only pure Python (plugboard.hostnet.ship), and pydantic is not (its core is compiled).
The service validated the state before it wrote the request, with defaults filled in
(`model_dump(mode="json")`), so the agent needs no second validation, only the fields.
Standard library only: this module runs on the host.
"""

from __future__ import annotations

from typing import Any


class Plain:
    """A JSON object's keys as attributes, nested objects and lists of them likewise."""

    def __init__(self, raw: dict[str, Any]) -> None:
        for key, value in raw.items():
            setattr(self, key, _view(value))

    def __getattr__(self, name: str) -> Any:
        # a field the sender's version did not write (an older service): its default is None
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def _view(value: Any) -> Any:
    if isinstance(value, dict):
        return Plain(value)
    if isinstance(value, list):
        return [_view(v) for v in value]
    return value


def ports_of(iface: Any) -> list[str]:
    """The interfaces `iface` (a desired Interface, pydantic's or plain) is the master of."""
    if iface.bridge is not None:
        return list(iface.bridge.ports)
    if iface.bond is not None:
        return list(iface.bond.ports)
    if iface.ovs_bridge is not None:
        bonded = [p for b in iface.ovs_bridge.bonds for p in b.ports]
        return list(iface.ovs_bridge.ports) + bonded
    return []


class PlainInterface(Plain):
    def ports(self) -> list[str]:
        return ports_of(self)


class PlainState:
    """A NetworkState's JSON: `interfaces`, `routes` and `find`, as the model has them."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.interfaces = [PlainInterface(i) for i in raw.get("interfaces", [])]
        self.routes = [Plain(r) for r in raw.get("routes", [])]

    def find(self, name: str) -> PlainInterface | None:
        return next((i for i in self.interfaces if i.name == name), None)
