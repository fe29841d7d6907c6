"""plugboard: the network wiring of virtual machines on libvirt/KVM hosts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("plugboard")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
