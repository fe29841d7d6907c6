"""Problems a client can act on: broken JSON says where it broke, as a person counts."""

from tests.unit.test_api_auth import assert_problem

BROKEN = b'{"name": }'  # the value is missing at column 10


def test_broken_json_is_named_by_line_and_column(services):
    svc = services.make()
    answer = svc.post("/tokens", content=BROKEN, headers={"Content-Type": "application/json"})
    body = assert_problem(answer, 422, "VALIDATION_ERROR")
    assert body["detail"] == "body: invalid JSON at line 1, column 10: Expecting value"
    assert body["errors"] == [
        {"field": "body", "message": "invalid JSON at line 1, column 10: Expecting value"}
    ]


def test_broken_json_on_a_later_line(services):
    svc = services.make()
    answer = svc.post(
        "/tokens",
        content=b'{"name": "ci",\n  "role": }',
        headers={"Content-Type": "application/json"},
    )
    assert (
        "invalid JSON at line 2, column 11"
        in assert_problem(answer, 422, "VALIDATION_ERROR")["detail"]
    )


def test_a_broken_json_network_is_named_the_same_way(services):
    svc = services.make()
    answer = svc.post("/hosts/local/networks", content=BROKEN)
    detail = assert_problem(answer, 400, "BAD_REQUEST")["detail"]
    assert detail.startswith("invalid JSON at line 1, column 10: Expecting value")


def test_a_missing_network_named_in_a_body_is_422_and_in_a_url_404(services):
    svc = services.make()
    nope = {"source": {"type": "network", "network": "nope"}}
    vm = {"name": "pbtest-x", "boot": {"kernel": "/nonexistent/vmlinuz"}, "nics": [nope]}
    body = assert_problem(svc.post("/hosts/local/vms", json=vm), 422, "NETWORK_NOT_FOUND")
    assert body["errors"][0]["field"] == "source.network"
    assert "no network 'nope'" in body["detail"]
    assert_problem(svc.get("/hosts/local/networks/nope"), 404, "NETWORK_NOT_FOUND")
