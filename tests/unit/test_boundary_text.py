"""Nothing bad is stored: every string of every request body (and the query) refuses control
characters, NUL and lone surrogates with 422 naming the field, and nothing changes; a record
stored before these rules (a host URI with a NUL) makes its routes answer 502 saying why, never
500, and can be corrected or removed. The real app on a SQLite store, libvirt's test driver."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import update

from plugboard.api.text import TEXT_REGEX
from plugboard.engine.hosts import check_uri
from plugboard.errors import InvalidInput
from plugboard.store import Host, Store
from tests.unit.test_api_auth import assert_problem

BAD = {"NUL": "\x00", "ESC": "\x1b", "DEL": "\x7f", "C1": "\x85", "lone surrogate": "\ud800"}

NETWORK = {
    "name": "net1",
    "domain": {"name": "example.lan"},
    "ips": [{"address": "10.9.0.1", "prefix": 24,
             "dhcp": {"hosts": [{"mac": "52:54:00:00:00:09", "name": "h1", "ip": "10.9.0.9"}]}}],
    "dns": {"txts": [{"name": "t", "value": "hello"}]},
}  # fmt: skip
BOOT = {"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img", "cmdline": "console=ttyS0"}
TEMPLATE = {
    "name": "t1",
    "boot": BOOT,
    "networks": ["default"],
    "interfaces": [{"type": "macvtap", "source": ["eth0"], "mode": "bridge"}],
}
VNIC = {"name": "n1", "source": {"type": "network", "network": "default"}}

# (method, path, a valid body, the path of each string in it to spoil)
BODIES: list[tuple[str, str, dict[str, Any], list[tuple]]] = [
    ("POST", "/hosts", {"name": "h2", "uri": "test:///default"}, [("name",), ("uri",)]),
    ("PATCH", "/hosts/local", {"uri": "test:///default"}, [("uri",)]),
    ("POST", "/tokens", {"name": "ops", "role": "user"}, [("name",), ("role",)]),
    ("POST", "/templates", TEMPLATE, [("name",), ("boot", "kernel"), ("boot", "initrd"),
     ("boot", "cmdline"), ("networks", 0), ("interfaces", 0, "source", 0)]),
    ("PUT", "/macpool", {"ranges": ["02:00:00:00:00:01-02:00:00:00:00:ff"]}, [("ranges", 0)]),
    ("POST", "/hosts/local/networks", NETWORK, [("name",), ("domain", "name"),
     ("ips", 0, "dhcp", "hosts", 0, "name"), ("dns", "txts", 0, "value")]),
    ("POST", "/hosts/local/networks/default/updates",
     {"command": "add", "section": "dns-txt", "xml": "<txt name='a' value='b'/>"}, [("xml",)]),
    ("POST", "/hosts/local/vms", {"name": "vm1", "boot": BOOT, "nics": [VNIC]},
     [("name",), ("boot", "kernel"), ("boot", "cmdline"), ("nics", 0, "name"),
      ("nics", 0, "source", "network")]),
    ("POST", "/hosts/local/vms/vm1/nics", VNIC | {"name": "n2"},
     [("name",), ("source", "network")]),
    ("PATCH", "/hosts/local/vms/vm1/nics/nic1", {"source": {"type": "bridge", "bridge": "br0"}},
     [("source", "bridge")]),
]  # fmt: skip
CASES = [
    pytest.param(method, path, body, where, bad,
                 id=f"{method} {path} {'.'.join(map(str, where))} {name}")
    for method, path, body, wheres in BODIES
    for where in wheres
    for name, bad in BAD.items()
]  # fmt: skip


def spoil(body: dict, where: tuple, bad: str) -> dict:
    body = copy.deepcopy(body)
    parent: Any = body
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = f"x{bad}y"
    return body


def snapshot(svc) -> dict[str, Any]:
    """What the store and the host hold, as the API shows it."""
    found = {}
    for path in ("/hosts", "/templates", "/macpool", "/hosts/local/networks", "/hosts/local/vms",
                 "/hosts/local/vms/test/nics"):  # fmt: skip
        response = svc.get(path)
        assert response.status_code == 200, response.text
        found[path] = response.json()
    for host in found["/hosts"]:
        host.pop("connected_since")
    found["tokens"] = sorted((t["name"], t["revoked_at"]) for t in svc.get("/tokens").json())
    return found


def encoded(body: dict) -> bytes:
    """JSON as a client would send it; a lone surrogate as the \\ud800 escape JSON allows."""
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from tests.harness.service import ServiceFactory  # noqa: PLC0415

    factory = ServiceFactory(tmp_path_factory.mktemp("text"))
    yield factory.make()
    factory.close()


@pytest.mark.parametrize(("method", "path", "body", "where", "bad"), CASES)
def test_a_control_character_in_any_string_is_refused_and_nothing_changes(
    svc, method, path, body, where, bad
):
    before = snapshot(svc)
    response = svc.request(method, path, content=encoded(spoil(body, where, bad)),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    fields = " ".join(e["field"] for e in problem["errors"])
    assert str(where[-1] if isinstance(where[-1], str) else where[-2]) in fields, problem
    assert snapshot(svc) == before


def test_the_valid_bodies_are_accepted(svc):
    """The bodies above are good as they are: each refusal is the spoiled string's."""
    for method, path, body, _ in BODIES:
        if path.startswith("/hosts/local/vms/vm1/nics/"):
            continue  # a change of the card made by the POST above: tested in the vNIC suites
        response = svc.request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.text)


def test_an_xml_network_with_a_control_character_is_refused(svc):
    before = snapshot(svc)
    xml = "<network><name>n2</name><dns><txt name='a' value='x\x1by'/></dns></network>"
    response = svc.post("/hosts/local/networks", content=xml.encode(),
                        headers={"Content-Type": "application/xml"})  # fmt: skip
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert "U+001B" in problem["detail"]
    assert snapshot(svc) == before


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x85"])
def test_a_query_parameter_with_a_control_character_is_refused(svc, bad):
    response = svc.get("/events", params={"target": f"hosts/local{bad}"})
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert "target" in problem["errors"][0]["field"]


@pytest.mark.parametrize(
    "uri",
    ["qemu:///system\x00", "qemu+ssh://host/system\n", "qemu+ssh://ho st/system",
     "qemu+ssh://hôst/system", "qemu:///system?socket=/run/x\x7f"],
)  # fmt: skip
def test_a_uri_holds_only_the_characters_of_rfc_3986(uri):
    with pytest.raises(InvalidInput):
        check_uri(uri)


def with_stored_uri(services, uri: str):
    """A service whose host 'old' was stored before the rules, with `uri` (written to the
    store directly, as an older plugboard could have), started again on that store."""
    first = services.make()
    first.post("/hosts", json={"name": "old", "uri": "test:///default"})
    store = Store(first.settings.database_url.get_secret_value())
    with store.session() as db:
        db.execute(update(Host).where(Host.name == "old").values(uri=uri))
    store.dispose()
    return services.restart(first)


def test_a_stored_uri_with_a_nul_answers_502_and_can_be_corrected(services):
    """Its routes say what is wrong (502 HOST_UNREACHABLE, 'its URI is not valid'), never
    500; PATCH corrects it."""
    svc = with_stored_uri(services, "test:///default\x00x")
    for path in ("/hosts/old/networks", "/hosts/old/vms", "/hosts/old/interfaces"):
        problem = assert_problem(svc.get(path), 502, "HOST_UNREACHABLE")
        assert "URI is not valid" in problem["detail"], problem
        assert "host-set old --uri" in problem["detail"]
    assert svc.get("/hosts/old").json()["state"] == "unreachable"
    fixed = svc.patch("/hosts/old", json={"uri": "test:///default"})
    assert fixed.status_code == 200, fixed.text
    assert svc.get("/hosts/old/networks").status_code == 200


def test_a_stored_uri_with_a_nul_can_be_removed(services):
    svc = with_stored_uri(services, "test:///\x00")
    assert svc.delete("/hosts/old").status_code == 204
    assert [h["name"] for h in svc.get("/hosts").json()] == ["local"]


def test_the_openapi_schema_says_the_text_rules(svc):
    schema = svc.client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert schema["TemplateCreate"]["properties"]["name"]["pattern"]
    boot = schema["Boot"]["properties"]
    assert boot["cmdline"]["anyOf"][0]["pattern"]
    assert schema["TokenCreate"]["properties"]["name"]["pattern"]
    assert schema["HostCreate"]["properties"]["uri"]["pattern"]
    assert schema["NetxmlNetwork"]["properties"]["name"]["pattern"]
    texts = [
        p for p in json.dumps(schema).split('"pattern": ') if p.startswith(json.dumps(TEXT_REGEX))
    ]
    assert len(texts) > 20, "free-text strings should carry the text pattern"
