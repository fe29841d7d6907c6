"""Hosts: the libvirt hosts plugboard manages, stored by name + URI."""

from __future__ import annotations

import concurrent.futures
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugboard.engine import grants, policy
from plugboard.engine.policy import Action, host_object
from plugboard.engine.tokens import Principal, TokenCache
from plugboard.errors import HostExists, HostNotFound, InvalidInput, PlugboardError
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.model import HostState
from plugboard.hosts.registry import HostRegistry
from plugboard.store import on_commit
from plugboard.store.models import Fact, Host, utcnow

LOCAL = "local"
SCHEMES = (
    "qemu",
    "qemu+ssh",
    "qemu+libssh",
    "qemu+libssh2",
    "qemu+tls",
    "qemu+tcp",
    "qemu+unix",
    "test",
)
# The libvirt URIs plugboard manages: QEMU's system or session driver over any transport, and
# libvirt's test driver. The API publishes this pattern in its schema.
# RFC 3986's characters only (no space, no control character): a URI is stored and later
# handed to libvirt, which must never see anything else.
_AUTHORITY = r"[A-Za-z0-9._~%!$&'()*+,;=:@\[\]-]*"
_PATH = r"[A-Za-z0-9._~%!$&'()*+,;=:@/-]+"
_QUERY = r"[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*"
URI_REGEX = (
    rf"^(qemu(\+(ssh|libssh|libssh2|tls|tcp|unix))?://{_AUTHORITY}/(system|session)"
    rf"|test://{_AUTHORITY}/{_PATH})([?]{_QUERY})?$"
)
URI_PATTERN = re.compile(URI_REGEX)
GET_TIMEOUT = 5.0  # a GET of one host waits this long for a first connection, no more


@dataclass(frozen=True)
class HostView:
    """A host as users see it: the stored record and what its connection knows."""

    name: str
    uri: str
    state: str
    error: str | None
    connected_since: datetime | None
    domain_type_setting: str
    domain_type: str | None
    hostname: str | None
    libvirt_version: str | None
    hypervisor: str | None
    hypervisor_version: str | None


def check_uri(uri: str) -> str:
    if URI_PATTERN.fullmatch(uri):  # not match: "$" also matches before a final newline
        return uri
    scheme = urlsplit(uri).scheme
    if scheme not in SCHEMES:
        hint = f"it must start with one of {', '.join(s + '://' for s in SCHEMES)}"
    elif scheme == "test":
        hint = "the test driver needs a path, as in test:///default"
    else:
        hint = "it must name /system or /session, as in qemu:///system or qemu+ssh://h1/system"
    raise InvalidInput(f"'{uri}' is not a libvirt URI plugboard manages: {hint}", field="uri")


def view(host: Host, connection: HostConnection) -> HostView:
    info = connection.info
    effective: str | None = host.domain_type
    if effective == "auto":
        effective = None if info is None else ("kvm" if info.kvm_available else "qemu")
    return HostView(
        name=host.name,
        uri=host.uri,
        state=connection.state.value,
        error=connection.error,
        connected_since=connection.connected_since,
        domain_type_setting=host.domain_type,
        domain_type=effective,
        hostname=info.hostname if info else None,
        libvirt_version=info.libvirt_version if info else None,
        hypervisor=info.hypervisor if info else None,
        hypervisor_version=info.hypervisor_version if info else None,
    )


@dataclass(frozen=True)
class HostCounts:
    """How many VMs (domains, virsh's too) and networks a host has."""

    vms: int
    networks: int


def counts(connection: HostConnection) -> HostCounts | None:
    """The host's VMs and networks counted, or None when it is not connected (its state and
    error say why): a list of hosts never waits for one that is down."""
    if connection.state is not HostState.CONNECTED:
        return None
    try:
        return connection.call(lambda lv: HostCounts(len(lv.domains()), len(lv.networks())))
    except PlugboardError:
        return None


def _find(session: Session, name: str) -> Host:
    host = session.scalar(select(Host).where(Host.name == name))
    if host is None:
        raise HostNotFound(f"no host named '{name}'; `plugboard host-list` shows the hosts")
    return host


def list_hosts(session: Session, registry: HostRegistry, by: Principal) -> list[HostView]:
    """What each connection knows, of the hosts `by` may see. Hosts never opened yet are
    opened now, all at once, and waited for GET_TIMEOUT at most; a host known to be down is
    not waited for at all."""
    every = session.scalars(select(Host).order_by(Host.name))
    hosts = policy.keep_visible(by, every, lambda h: host_object(h.name))
    connections = [registry.get(host.name) for host in hosts]
    opening = [f for f in (c.start_connecting() for c in connections) if f is not None]
    if opening:
        concurrent.futures.wait(opening, timeout=GET_TIMEOUT)
    return [view(host, connection) for host, connection in zip(hosts, connections, strict=True)]


def get_host(session: Session, registry: HostRegistry, by: Principal, name: str) -> HostView:
    policy.require(by, Action.SEE, host_object(name))
    host = _find(session, name)
    connection = registry.get(name)
    connection.connect(timeout=GET_TIMEOUT)
    return view(host, connection)


def add_host(
    session: Session,
    registry: HostRegistry,
    by: Principal,
    name: str,
    uri: str,
    domain_type: str = "auto",
) -> HostView:
    policy.require(by, Action.ADMIN, "hosts")
    check_uri(uri)
    if session.scalar(select(Host).where(Host.name == name)) is not None:
        raise HostExists(f"a host named '{name}' exists; remove it first or choose another name")
    host = Host(name=name, uri=uri, domain_type=domain_type, created_at=utcnow())
    session.add(host)
    session.flush()
    connection = registry.make(name, uri)
    on_commit(session, lambda: registry.put(connection))
    return view(host, connection)


def update_host(
    session: Session,
    registry: HostRegistry,
    by: Principal,
    name: str,
    *,
    uri: str | None = None,
    domain_type: str | None = None,
) -> HostView:
    policy.require(by, Action.SEE, host_object(name))
    policy.require(by, Action.ADMIN, "hosts")
    host = _find(session, name)
    connection = registry.get(name)
    if uri is not None and uri != host.uri:
        host.uri = check_uri(uri)
        connection = registry.make(name, uri)  # a new connection to the new URI
        on_commit(session, lambda: registry.put(connection))
    if domain_type is not None:
        host.domain_type = domain_type
    return view(host, connection)


def remove_host(
    session: Session, registry: HostRegistry, by: Principal, tokens: TokenCache, name: str
) -> None:
    """Remove the host from plugboard (its VMs and networks stay); the grants on it go."""
    policy.require(by, Action.SEE, host_object(name))
    policy.require(by, Action.ADMIN, "hosts")
    session.delete(_find(session, name))
    grants.forget_object(session, tokens, host_object(name))
    on_commit(session, lambda: registry.remove(name))


def load_hosts(
    session: Session, registry: HostRegistry, local_uri: str, local_domain_type: str
) -> None:
    """At start: register `local` the first time, then open (lazily) every stored host."""
    if session.get(Fact, "local_registered") is None:
        if session.scalar(select(Host).where(Host.name == LOCAL)) is None:
            session.add(
                Host(name=LOCAL, uri=local_uri, domain_type=local_domain_type, created_at=utcnow())
            )
        session.add(Fact(key="local_registered", value="1"))
        session.flush()
    for host in session.scalars(select(Host)):
        registry.add(host.name, host.uri)
