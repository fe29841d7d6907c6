"""Templates through the API, stored in SQLite and in PostgreSQL (real servers)."""

from __future__ import annotations

from tests.unit.test_api_auth import assert_problem

BOOT = {"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img", "cmdline": "console=ttyS0"}
S390 = {
    "name": "s390-web",
    "memory_mib": 512,
    "vcpus": 2,
    "boot": BOOT,
    "interfaces": [
        {"type": "macvtap", "source": ["eth0", "eth1"], "mode": "bridge"},
        {"type": "macvtap", "source": ["bond0"]},
        {"type": "ovs", "source": ["vswitch0"]},
    ],
}


def test_template_crud_on_each_database(services, database_url):
    svc = services.make(database_url=database_url)
    assert svc.get("/templates").json() == []

    made = svc.post("/templates", json=S390)
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == "/api/v1/templates/s390-web"
    body = made.json()
    # a platform without virtual networks: none unless asked; macvtap mode defaults to vepa
    assert body["networks"] == [] and body["nic_model"] == "virtio"
    assert body["interfaces"] == [
        {"type": "macvtap", "source": ["eth0", "eth1"], "mode": "bridge"},
        {"type": "macvtap", "source": ["bond0"], "mode": "vepa"},
        {"type": "ovs", "source": ["vswitch0"], "mode": None},
    ]
    assert svc.get("/templates/s390-web").json() == body
    assert_problem(svc.post("/templates", json=S390), 409, "TEMPLATE_EXISTS")

    changed = svc.request(
        "PUT", "/templates/s390-web", json=S390 | {"networks": ["default"], "vcpus": 4}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["vcpus"], changed.json()["networks"]) == (4, ["default"])
    assert changed.json()["created_at"] == body["created_at"]
    renamed = svc.request("PUT", "/templates/s390-web", json=S390 | {"name": "other"})
    assert_problem(renamed, 422, "VALIDATION_ERROR")
    assert_problem(svc.request("PUT", "/templates/nope", json=S390 | {"name": "nope"}), 404,
                   "TEMPLATE_NOT_FOUND")  # fmt: skip

    assert svc.delete("/templates/s390-web").status_code == 204
    assert_problem(svc.get("/templates/s390-web"), 404, "TEMPLATE_NOT_FOUND")
    assert_problem(svc.delete("/templates/s390-web"), 404, "TEMPLATE_NOT_FOUND")


def test_bad_templates_are_refused_and_nothing_is_stored(services):
    svc = services.make()
    ovs_mode = {"type": "ovs", "source": ["vswitch0"], "mode": "bridge"}
    cases = [
        {"name": "t", "boot": BOOT, "interfaces": [ovs_mode]},  # mode is for macvtap only
        {"name": "t", "boot": BOOT, "interfaces": [{"type": "bridge", "source": ["br0"],
                                                   "mode": "vepa"}]},
        {"name": "t", "boot": BOOT, "interfaces": [{"type": "macvtap", "source": []}]},
        {"name": "t", "boot": BOOT, "interfaces": [{"type": "network", "source": ["default"]}]},
        {"name": "t", "boot": BOOT, "interfaces": [{"type": "macvtap", "source": ["x" * 16]}]},
        {"name": "t", "boot": {}},  # neither kernel nor disk
        {"name": "t"},
        {"name": "bad name", "boot": BOOT},
        {"name": "t", "boot": BOOT, "networks": ["bad name"]},
        {"name": "t", "boot": BOOT, "nic_model": "tulip"},
    ]  # fmt: skip
    for body in cases:
        problem = assert_problem(svc.post("/templates", json=body), 422, "VALIDATION_ERROR")
        assert problem["detail"]
    assert svc.get("/templates").json() == []


def test_a_user_token_may_read_templates_but_not_change_them(services):
    svc = services.make()
    assert svc.post("/templates", json=S390).status_code == 201
    secret = svc.post("/tokens", json={"name": "viewer"}).json()["token"]
    viewer = {"Authorization": f"Bearer {secret}"}
    assert svc.client.get("/api/v1/templates/s390-web", headers=viewer).status_code == 200
    for method in ("POST", "PUT", "DELETE"):
        path = "/api/v1/templates" + ("" if method == "POST" else "/s390-web")
        denied = svc.client.request(method, path, headers=viewer, json=S390)
        assert_problem(denied, 403, "PERMISSION_DENIED")
    assert svc.get("/templates/s390-web").json()["vcpus"] == 2
