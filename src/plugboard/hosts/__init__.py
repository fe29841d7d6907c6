"""The libvirt adapter: one kept connection per host (connection, registry), opened lazily
and reopened with backoff; every libvirt call goes through plugboard.hosts.adapter, and its
errors through one table (plugboard.hosts.errors). Import from the submodules: this package
loads nothing, so a light import (plugboard.hosts.model) does not load libvirt."""
