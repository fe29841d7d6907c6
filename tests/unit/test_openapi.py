"""schemathesis against the service's own OpenAPI schema: generated requests (valid and
invalid) never get a 5xx, and every response matches what the schema declares.

The test sends the admin token with every request, so the schema's security parameter is not
generated. Two checks are left out: `negative_data_rejection`, because FastAPI reads a repeated
scalar query parameter as its last value (as most HTTP frameworks do); and
`positive_data_acceptance`, because a network definition has libvirt's rules beyond what a JSON
schema can say (an `{}` body has the right type, and no name): such bodies get a documented 422.
"""

import tempfile
from pathlib import Path

import libvirt
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.harness.service import ServiceFactory

_factory = ServiceFactory(Path(tempfile.mkdtemp(prefix="plugboard-schemathesis-")))
# Every host, whatever its generated URI, is libvirt's test driver: generated requests reach
# real libvirt code and never another machine, and no host is unreachable (the 502 of a dead
# host is tested against real test hosts in tests/integration/test_api_hosts.py).
_service = _factory.make(connector=lambda _uri: libvirt.open("test:///default"))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _service.app)
schema.config.generation.update(with_security_parameters=False)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(
        headers=_service.auth, excluded_checks=[negative_data_rejection, positive_data_acceptance]
    )


def teardown_module() -> None:
    _factory.close()
