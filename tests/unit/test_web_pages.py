"""The web UI's template form read into the API's template body (and a template back into the
form), the API's 422 placed next to the control it is about, and the events page's links."""

import pytest
from pydantic import ValidationError

from plugboard.api.vm_schemas import TemplateCreate, TemplateUpdate
from plugboard.errors import InvalidInput
from plugboard.store.models import Template
from plugboard.web.core import Form, Problem
from plugboard.web.events import PAGE_SIZE, page_url
from plugboard.web.templateforms import NicRow, TemplateForm


def posted(*rows: tuple[str, str, str], **fields: str) -> Form:
    form = {"name": "web-small", "memory_mib": "512", "vcpus": "2", "kernel": "/k",
            "nics": str(len(rows))} | fields  # fmt: skip
    for i, (kind, name, mode) in enumerate(rows):
        form |= {f"nic{i}_kind": kind, f"nic{i}_name": name, f"nic{i}_mode": mode}
    return Form(form)


def test_the_rows_become_networks_and_interfaces_grouped_by_kind_and_mode():
    form = TemplateForm.posted(
        posted(
            ("network", "lab", "vepa"),
            ("macvtap", "eth0", "bridge"),
            ("macvtap", "eth1", "bridge"),
            ("network", "", "vepa"),  # the empty row: left out
            ("macvtap", "eth2", "vepa"),
            ("ovs", "ovsbr0", "vepa"),  # a mode is a macvtap's only
            ("network", "dmz", "vepa"),
        )
    )
    body = form.body()
    assert body == {
        "name": "web-small", "memory_mib": "512", "vcpus": "2", "boot": {"kernel": "/k"},
        "networks": ["lab", "dmz"],
        "interfaces": [
            {"type": "macvtap", "source": ["eth0", "eth1"], "mode": "bridge"},
            {"type": "macvtap", "source": ["eth2"], "mode": "vepa"},
            {"type": "ovs", "source": ["ovsbr0"]},
        ],
    }  # fmt: skip
    spec = TemplateCreate.model_validate(body).spec()
    assert (spec.memory_mib, spec.vcpus, spec.hotplug_slots) == (512, 2, 8)  # left out: default


def test_a_template_back_into_the_form_and_out_again_is_the_same_body():
    template = Template(
        name="web", memory_mib=1024, vcpus=1, domain_type="qemu", hotplug_slots=4,
        nic_model="e1000", boot={"disk": "/d.qcow2"}, networks=["lab"],
        interfaces=[{"type": "bridge", "source": ["br0", "br1"], "mode": None}],
    )  # fmt: skip
    form = TemplateForm.of(template)
    assert form.rows == [NicRow("network", "lab"), NicRow("bridge", "br0"), NicRow("bridge", "br1")]
    assert form.shown_rows()[-1] == NicRow()  # one empty row to add a vNIC
    again = TemplateUpdate.model_validate(form.body(with_name=False)).spec_for("web")
    assert again.networks == ["lab"] and again.boot == {"disk": "/d.qcow2"}
    assert again.interfaces == [{"type": "bridge", "source": ["br0", "br1"], "mode": None}]
    assert (again.memory_mib, again.domain_type, again.nic_model) == (1024, "qemu", "e1000")


def test_the_api_words_are_shown_next_to_the_field_and_the_row_they_are_about():
    form = TemplateForm.posted(
        posted(
            ("network", "lab", "vepa"),
            ("bridge", "br0", "vepa"),
            ("bridge", "bad name", "x"),
            memory_mib="8",
            cmdline="a\x01b",
        )
    )
    with pytest.raises(ValidationError) as refused:
        TemplateCreate.model_validate(form.body())
    errors = form.errors(Problem.invalid(refused.value))
    assert errors["memory_mib"] == ["Input should be greater than or equal to 16"]
    assert list(errors) == ["memory_mib", "cmdline", "nic2"]
    assert "should match pattern" in errors["nic2"][0]
    engine = Problem.of(InvalidInput("boot needs a kernel", field="boot"))
    assert form.errors(engine) == {"boot": ["boot needs a kernel"]}
    mode = Problem.of(InvalidInput("mode applies to macvtap", field="interfaces[0].mode"))
    assert form.errors(mode) == {"nic1": ["mode applies to macvtap"]}


def test_a_row_of_no_known_kind_is_refused_by_its_row():
    form = TemplateForm.posted(posted(("floppy", "a", "vepa")))
    with pytest.raises(InvalidInput, match="kind is one of network, bridge, macvtap, ovs"):
        form.body()


def test_the_events_pages_keep_their_filters():
    asked = {"target_contains": "templates", "actor": "", "outcome": "ok", "offset": "50"}
    assert page_url(asked, 0) == "/events?target_contains=templates&outcome=ok"
    assert page_url(asked, PAGE_SIZE * 2) == (
        "/events?target_contains=templates&outcome=ok&offset=100"
    )
    assert page_url({"action": "POST /templates (web)"}, 0) == (
        "/events?action=POST+%2Ftemplates+%28web%29"
    )
