"""The web UI's vNIC profile form, its pure parts: the form read into the API's profile body
and by its schema, a profile back into the form, the API's words by the control they are
about, the plan's words for what an edit changes; and a vNIC card's Profile select."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from plugboard.api.profile_schemas import ProfileCreate
from plugboard.engine.profiles import stored
from plugboard.engine.vm_state import VnicState
from plugboard.errors import InvalidInput
from plugboard.store.models import Profile
from plugboard.vnic import Source, Vnic
from plugboard.web.core import Form, Problem
from plugboard.web.profileforms import ProfileForm, control_of
from plugboard.web.vnicforms import body_from, changes

MAC = "52:54:00:00:00:01"


def posted(**fields: str) -> ProfileForm:
    return ProfileForm.posted(
        Form({"name": "gold", "kind": "network", "source_name": "lab"} | fields)
    )


def test_the_form_becomes_the_apis_body_with_only_what_was_given():
    form = posted(
        portgroup="web", vlans="10, 20", trunk="on", inbound_average="1000", inbound_peak="2000",
        outbound_burst="64", port_mirroring="on", filter_name="clean-traffic",
        filter_parameters="IP=10.0.0.5\n\nMAC = 52:54:00:00:00:01\n",
    )  # fmt: skip
    assert form.body() == {
        "name": "gold",
        "source": {"type": "network", "network": "lab", "portgroup": "web"},
        "bandwidth": {"inbound": {"average": 1000, "peak": 2000}, "outbound": {"burst": 64}},
        "vlan": {"tags": [10, 20], "trunk": True},
        "port_mirroring": True,
        "filter": {"name": "clean-traffic", "parameters": {"IP": "10.0.0.5", "MAC": MAC}},
    }


def test_each_kind_sends_its_own_source_fields_only():
    assert posted(kind="bridge", portgroup="web").body()["source"] == {
        "type": "bridge", "bridge": "lab"
    }  # fmt: skip
    assert posted(kind="macvtap", macvtap_mode="vepa").body()["source"] == {
        "type": "macvtap", "dev": "lab", "mode": "vepa"
    }  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        posted(kind="sriov").body()
    assert refused.value.extra["field"] == "kind"


def test_a_profile_back_into_the_form_and_out_again_is_the_same_body():
    body = posted(
        kind="ovs", vlans="7", inbound_average="5", filter_name="f", filter_parameters="A=1"
    ).body()
    spec = ProfileCreate.model_validate(body).spec_for("gold")
    now = datetime.now(UTC)
    profile = Profile(
        name="gold", description="", spec=stored(spec), created_at=now, updated_at=now
    )
    again = ProfileForm.of(profile).body()
    assert ProfileCreate.model_validate(again).spec_for("gold") == spec


def test_the_apis_words_go_next_to_the_control_they_are_about():
    with pytest.raises(ValidationError) as refused:
        ProfileCreate.model_validate(posted(vlans="5000", inbound_peak="9").body())
    errors = posted().errors(Problem.invalid(refused.value))
    assert "less than or equal to 4095" in errors["vlans"][0]
    assert errors["inbound_average"] == ["Field required"]
    assert control_of("source.network.network") == "source_name"
    assert control_of("source.macvtap.mode") == "macvtap_mode"
    assert control_of("body.filter.parameters.IP") == "filter_parameters"
    assert control_of("bandwidth.outbound.peak") == "outbound_peak"
    assert control_of("elsewhere") == "form"


def test_a_parameter_line_without_an_equals_sign_is_refused_by_its_number():
    with pytest.raises(InvalidInput) as refused:
        posted(filter_name="f", filter_parameters="A=1\nIP 10.0.0.5").body()
    assert "line 2" in refused.value.detail
    assert control_of(refused.value.extra["field"]) == "filter_parameters"


def test_the_plan_says_what_the_edit_changes_in_the_profile():
    before, after = posted(), posted(source_name="other", port_mirroring="on")
    assert before.changes(after) == [
        ("source", "libvirt network lab", "libvirt network other"),
        ("port mirroring", "off", "on"),
    ]


# --- a vNIC card's Profile select --------------------------------------------------------------
def card(profile: str | None = None) -> VnicState:
    vnic = Vnic("nic1", MAC, source=Source("network", network="lab"), profile=profile)
    return VnicState(vnic=vnic, iface=None)  # type: ignore[arg-type]


def edit(**fields: str) -> Form:
    return Form({"source": "network:lab", "mac": MAC, "model": "virtio"} | fields)


def test_a_profile_chosen_wires_the_card_through_it_and_the_network_is_ignored():
    assert body_from(edit(profile="gold", source="network:other"), card()) == {"profile": "gold"}
    assert body_from(edit(profile="gold", source="network:other"), card("gold")) == {}


def test_no_profile_keeps_the_wiring_or_takes_the_network_chosen():
    assert body_from(edit(profile=""), card("gold")) == {"profile": None}
    wired = body_from(edit(profile="", source="network:other"), card("gold"))
    assert wired == {"source": {"type": "network", "network": "other"}}
    assert body_from(edit(profile=""), card()) == {}


def test_a_plan_names_the_profile_and_what_it_brings():
    before = card().vnic
    after = before.with_(profile="gold", bandwidth=(("inbound.average", 1000),))
    assert changes(before, after) == [
        ("profile", "none", "gold"),
        ("QoS", "none", "inbound.average 1000"),
    ]
