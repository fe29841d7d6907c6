"""libvirt adapter: one kept connection per host, opened lazily, reopened with backoff."""

from plugboard.hosts.connection import HostConnection, HostInfo, HostState
from plugboard.hosts.registry import HostRegistry

__all__ = ["HostConnection", "HostInfo", "HostRegistry", "HostState"]
