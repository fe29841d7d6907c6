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
