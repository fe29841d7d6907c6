"""libvirt adapter: one kept connection per host, opened lazily, reopened with backoff."""

from plugboard.hosts.connection import HostConnection, HostEvent, HostInfo, HostState
from plugboard.hosts.registry import HostRegistry

__all__ = ["HostConnection", "HostEvent", "HostInfo", "HostRegistry", "HostState"]
