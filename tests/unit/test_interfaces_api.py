"""Host interfaces of a host plugboard reaches only through libvirt (the test driver's)."""

from tests.unit.test_api_auth import assert_problem


def test_a_host_without_a_local_daemon_is_read_through_libvirt(services):
    svc = services.make()  # `local` is libvirt's test driver: no daemon, no namespace
    listing = svc.get("/hosts/local/interfaces").json()
    assert listing["source"] == "libvirt"
    assert any("Open vSwitch" in gap for gap in listing["cannot_see"])
    assert [(i["name"], i["type"]) for i in listing["interfaces"]] == [("eth1", "nic")]
    refused = svc.get("/hosts/local/interfaces", params={"source": "host"})
    assert "source=libvirt" in assert_problem(refused, 422, "VALIDATION_ERROR")["detail"]
    assert_problem(svc.get("/hosts/nope/interfaces"), 404, "HOST_NOT_FOUND")
