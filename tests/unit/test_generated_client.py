"""The OpenAPI document makes a readable generated client: every operation has an operationId
that reads as a function name (`listHosts`, `patchVnic`), and a client generated from the
served document (openapi-python-generator, offline) calls the service."""

import importlib
import re
import sys

import pytest
from openapi_python_generator.common import Formatter
from openapi_python_generator.generate_data import generate_data

CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z]+)*")


def test_every_operation_has_a_readable_unique_operation_id(services):
    document = services.make().client.get("/api/v1/openapi.json").json()
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not CAMEL.fullmatch(i)] == []
    for expected in ("listHosts", "patchVnic", "redefineNetwork", "revokeToken", "getHealth"):
        assert expected in ids


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """Imports a module of the client generated into tmp_path/pbclient."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda module: importlib.import_module(f"pbclient.{module}")
    for name in [n for n in sys.modules if n == "pbclient" or n.startswith("pbclient.")]:
        del sys.modules[name]


# The generated code calls pydantic's .dict(), deprecated in pydantic 2 (the generator's own).
@pytest.mark.filterwarnings("ignore:The `dict` method is deprecated")
def test_a_generated_client_calls_the_service(services, tmp_path, generated):
    service = services.serve()
    url = service.settings.api_url
    generate_data(f"{url}/api/v1/openapi.json", tmp_path / "pbclient", formatter=Formatter.NONE)
    config = generated("api_config").APIConfig(base_path=url, access_token=service.token)
    hosts = generated("services.hosts_service")
    tokens = generated("services.tokens_service")
    models = generated("models")

    assert [h.name for h in hosts.listHosts(config)] == ["local"]
    made = tokens.createToken(config, data=models.TokenCreate(name="ci", role="user"))
    assert (made.name, made.role) == ("ci", "user")
    assert made.token
    assert tokens.revokeToken(config, name="ci") is None  # 204
    assert [t.name for t in tokens.listTokens(config) if t.revoked_at is not None] == ["ci"]


def test_every_delete_answers_204(services):
    document = services.make().client.get("/api/v1/openapi.json").json()
    deletes = {path: ops["delete"] for path, ops in document["paths"].items() if "delete" in ops}
    assert len(deletes) >= 9  # hosts, networks, VMs, vNICs, templates, profiles, ...
    for path, op in deletes.items():
        assert [s for s in op["responses"] if s.startswith("2")] == ["204"], path
