"""The web UI's VM pages, their pure parts: the card forms read into the API's PATCH body,
"Add a vNIC" and the new VM form into its POST bodies, and the live pages' fan-out of the
hosts' events."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from plugboard.api.vm_schemas import VmCreate, VnicCreate
from plugboard.engine.vm_state import VnicState
from plugboard.errors import InvalidInput
from plugboard.hosts.model import HostEvent
from plugboard.vnic import Source, VlanTags, Vnic
from plugboard.web.core import Form
from plugboard.web.live import Hub
from plugboard.web.vnicforms import (
    Choices,
    body_from,
    changes,
    choice_of,
    new_vm_body,
    new_vnic_body,
)

MAC = "52:54:00:00:00:01"


def card(**fields) -> VnicState:
    vnic = Vnic("nic1", MAC, source=Source("network", network="lab"), **fields)
    return VnicState(vnic=vnic, iface=None)  # type: ignore[arg-type]


def edit(**fields: str) -> Form:
    return Form({"source": "network:lab", "mac": MAC, "model": "virtio"} | fields)


def test_a_toggle_sends_its_one_field():
    assert body_from(Form({"linked": "false"}), card()) == {"linked": False}
    assert body_from(Form({"plugged": "true"}), card(plugged=False)) == {"plugged": True}
    with pytest.raises(InvalidInput, match="linked must be true or false"):
        body_from(Form({"linked": "maybe"}), card())


def test_the_edit_form_sends_only_what_differs_from_the_card():
    assert body_from(edit(), card()) == {}
    assert body_from(edit(source="network:other"), card()) == {
        "source": {"type": "network", "network": "other"}
    }
    assert body_from(edit(source="none", mac="52:54:00:00:00:02"), card()) == {
        "source": None,
        "mac": "52:54:00:00:00:02",
    }
    assert body_from(edit(mac=""), card()) == {"mac": None}  # refused by the API's words


def test_macvtap_and_open_vswitch_sources():
    asked = edit(source="macvtap:eth0", macvtap_mode="bridge")
    assert body_from(asked, card())["source"] == {
        "type": "macvtap",
        "dev": "eth0",
        "mode": "bridge",
    }
    access = edit(source="ovs:br0", ovs_vlans="10")
    assert body_from(access, card())["source"] == {"type": "ovs", "bridge": "br0", "vlan": 10}
    trunk = edit(source="ovs:br0", ovs_vlans="10, 20", ovs_trunk="on")
    assert body_from(trunk, card())["source"] == {"type": "ovs", "bridge": "br0", "trunk": [10, 20]}
    with pytest.raises(InvalidInput, match="tick trunk"):
        body_from(edit(source="ovs:br0", ovs_vlans="10,20"), card())
    with pytest.raises(InvalidInput, match="not a network this page offers"):
        body_from(edit(source="hostdev:x"), card())


def test_an_ovs_card_as_the_form_shows_it():
    ovs = Vnic("nic1", MAC, source=Source("ovs", bridge="br0"), vlan=VlanTags((10, 20), True))
    state = VnicState(vnic=ovs, iface=None)  # type: ignore[arg-type]
    now = choice_of(state)
    assert now["source"] == "ovs:br0" and now["ovs_vlans"] == "10,20" and now["ovs_trunk"]
    same = Form({"source": "ovs:br0", "ovs_vlans": "10,20", "ovs_trunk": "on", "mac": MAC,
                 "model": "virtio"})  # fmt: skip
    assert body_from(same, state) == {}


def test_a_plan_says_what_it_changes():
    before = card().vnic
    after = before.with_(source=None, linked=False)
    assert changes(before, after) == [
        ("source", "network lab", "no network"),
        ("link", "up", "down"),
    ]


def test_the_hub_hands_each_event_to_the_open_pages_that_show_it():
    async def run() -> list[list[str]]:
        hub = Hub()
        pages = (
            hub.listen("h", "vm", "vm1"),
            hub.listen("h", "vm", "vm2"),
            hub.listen("g", "vm", "vm1"),
            hub.listen("h", "network", "lab"),
            hub.listen("h", "network", "other"),
            hub.listen("h", "networks"),
        )
        hub(HostEvent("h", "domain", "vm1", "vnic-changed"), None)  # type: ignore[arg-type]
        hub(HostEvent("h", "network", "lab", "stopped"), None)  # type: ignore[arg-type]
        hub(HostEvent("h", "host", "h", "tick"), None)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        got = [[q.queue.get_nowait() for _ in range(q.queue.qsize())] for q in pages]
        hub.leave(pages[0])
        assert len(hub) == 5
        return got

    # On a thread of its own: another suite's browser may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        got = pool.submit(asyncio.run, run()).result(timeout=30)
    vm1, vm2, elsewhere, lab, other, table = got
    assert vm1 == ["domain-vnic-changed", "network-stopped", "host-tick"]
    assert vm2 == ["network-stopped", "host-tick"]  # a card's connection may be on it
    assert elsewhere == []  # another host
    assert lab == ["domain-vnic-changed", "network-stopped", "host-tick"]
    assert other == ["domain-vnic-changed", "host-tick"]  # a VM's card may be on it
    assert table == ["domain-vnic-changed", "network-stopped", "host-tick"]


def test_add_a_vnic_reads_into_the_apis_post_body():
    posted = Form({"source": "bridge:br0", "mac": "", "model": "e1000", "plugged": "on"})
    body = new_vnic_body(posted)
    assert body == {
        "source": {"type": "bridge", "bridge": "br0"},
        "model": "e1000",
        "plugged": True,
        "linked": False,  # an unticked checkbox is not sent at all
    }
    VnicCreate.model_validate(body)
    named = new_vnic_body(Form({"source": "none", "name": "uplink", "mac": "52:54:00:AA:00:01"}))
    assert named["source"] is None and named["name"] == "uplink"
    assert named["mac"] == "52:54:00:aa:00:01"
    with pytest.raises(ValidationError, match="name"):
        VnicCreate.model_validate(new_vnic_body(Form({"source": "none", "name": "bad name!"})))


def test_the_new_vm_form_reads_into_the_apis_post_body():
    posted = Form(
        {"name": "web1", "template": "", "memory_mib": "192", "vcpus": "", "kernel": "/k",
         "initrd": "/i", "cmdline": "", "disk": "", "source": "network:lab", "mac": "",
         "model": "virtio", "start": "on"}
    )  # fmt: skip
    body = new_vm_body(posted)
    assert body == {
        "name": "web1",
        "memory_mib": "192",
        "boot": {"kernel": "/k", "initrd": "/i"},
        "nics": [{"source": {"type": "network", "network": "lab"}, "model": "virtio"}],
    }
    assert VmCreate.model_validate(body).memory_mib == 192
    # From a template, with no vNIC of its own; bad numbers get the API's own words.
    assert new_vm_body(Form({"name": "w2", "template": "small", "source": "none"})) == {
        "name": "w2",
        "template": "small",
    }
    with pytest.raises(ValidationError, match="valid integer"):
        VmCreate.model_validate(new_vm_body(Form({"name": "w3", "template": "t", "vcpus": "x"})))


def test_add_a_vnic_starts_on_the_first_network():
    assert Choices(["lab", "other"], [], [], []).new_vnic["source"] == "network:lab"
    assert Choices([], ["br0"], [], []).new_vnic["source"] == "none"
