"""Fixtures shared by the whole suite: the test host, networks on it, and booted guests.

Integration tests need root (network namespaces) and the guest image (`make guest`). They do
not skip when either is missing: they fail, so a run that did not exercise libvirt never
passes for one that did.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from hypothesis import settings

from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.postgres import PostgresServer
from tests.harness.service import ServiceFactory

# Suites that need real test hosts (e2e: the web UI in Chromium against a served service).
INTEGRATION = tuple(Path(__file__).parent / suite for suite in ("integration", "faults", "e2e"))

# CI runs the property tests on a fixed sequence of examples, so a red run can be repeated;
# local runs draw new examples each time and keep exploring.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(suite in Path(item.fspath).parents for suite in INTEGRATION):
            item.add_marker(pytest.mark.integration)


class HostPool:
    """Starts test hosts on demand and stops them all at the end of its scope."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.hosts: list[TestHost] = []

    def up(self) -> TestHost:
        if os.geteuid() != 0:
            pytest.fail("integration tests need root: test hosts are network namespaces")
        host = TestHost.up(f"{self.prefix}{len(self.hosts)}")
        self.hosts.append(host)
        return host

    def down_all(self) -> None:
        errors = []
        for host in reversed(self.hosts):
            try:
                host.down()
            except Exception as err:  # keep stopping the others; report at the end
                errors.append(err)
        self.hosts.clear()
        if errors:
            raise errors[0]


@pytest.fixture(scope="session")
def testhost() -> Iterator[TestHost]:
    """The test host most tests share: a private libvirtd in its own namespaces."""
    pool = HostPool(f"s{os.getpid() % 100000}-")
    yield pool.up()
    pool.down_all()


@pytest.fixture
def more_testhosts() -> Iterator[HostPool]:
    """Extra test hosts for one test (multi-host tests); stopped when it ends."""
    pool = HostPool(f"f{os.getpid() % 100000}-")
    yield pool
    pool.down_all()


@pytest.fixture
def networks(testhost: TestHost) -> Iterator[NetworkFactory]:
    factory = NetworkFactory(testhost)
    yield factory
    factory.cleanup()


@pytest.fixture
def cleanup_networks(testhost: TestHost):
    """Networks a test made through plugboard, removed afterwards whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            net = testhost.conn.networkLookupByName(name)
        except libvirt.libvirtError:
            continue
        if net.isActive():
            net.destroy()
        if net.isPersistent():
            net.undefine()


@pytest.fixture
def guests(testhost: TestHost, networks: NetworkFactory) -> Iterator[GuestFactory]:
    factory = GuestFactory(testhost)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server (Debian's package), shared by the session."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'plugboard.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t{os.getpid()}_{request.node.nodeid.__hash__() & 0xFFFFFF:x}")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ServiceFactory]:
    """Makes plugboard services (in-process apps on a fresh SQLite) and closes them."""
    factory = ServiceFactory(tmp_path)
    yield factory
    factory.close()
