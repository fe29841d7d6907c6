import itertools

import pytest

from tests.harness import TestHost


def _with_testhost(service, testhost: TestHost):
    created = service.post(
        "/hosts", json={"name": "th", "uri": testhost.uri, "domain_type": "qemu"}
    )
    assert created.status_code == 201, created.text
    return service


@pytest.fixture
def svc(services, testhost: TestHost):
    """A service (in this process) with the session's test host registered as `th`."""
    return _with_testhost(services.make(), testhost)


@pytest.fixture
def served(services, testhost: TestHost):
    """A service in a process of its own (for the CLI), with the test host registered as `th`."""
    return _with_testhost(services.serve(), testhost)


_ovs_serial = itertools.count(1)


@pytest.fixture
def ovs_bridge(testhost: TestHost):
    """An Open vSwitch bridge on the userspace datapath in the test host."""
    testhost.ovs()
    name = f"pbovs{next(_ovs_serial)}"
    testhost.vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
    testhost.run("ip", "link", "set", name, "up")
    yield name
    testhost.vsctl("--if-exists", "del-br", name)
