"""schemathesis against the service's own OpenAPI schema, in-process (a quick, broad run; the
served process is fuzzed by tests/boundary/test_fuzz_served.py): generated requests (valid and
invalid) never get a 5xx, every response matches what the schema declares, data the schema
allows is accepted and data it refuses is refused, with the expected statuses of
tests/boundary/schemathesis.toml (each with its reason there).

The test sends the admin token with every request, so the schema's security parameter is not
generated.
"""

import tempfile
from pathlib import Path

import libvirt
import schemathesis
from hypothesis import HealthCheck, settings

from tests.harness.service import ServiceFactory

_factory = ServiceFactory(Path(tempfile.mkdtemp(prefix="plugboard-schemathesis-")))
# Every host, whatever its generated URI, is libvirt's test driver: generated requests reach
# real libvirt code and never another machine, and no host is unreachable (the 502 of a dead
# host is tested against real test hosts in tests/integration/test_api_hosts.py).
_service = _factory.make(connector=lambda _uri: libvirt.open("test:///default"))
CONFIG = Path(__file__).parents[1] / "boundary" / "schemathesis.toml"
schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json", _service.app, config=schemathesis.Config.from_path(CONFIG)
)
schema.config.generation.update(with_security_parameters=False)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(headers=_service.auth)


def teardown_module() -> None:
    _factory.close()
