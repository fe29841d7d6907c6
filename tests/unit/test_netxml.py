"""plugboard.netxml on its own: round trips, JSON, safety, errors that name the place, and a
corpus that exercises every declared field. (tests/integration/test_netxml_libvirt.py holds
the comparison with libvirt itself.)"""

import contextlib
import json
import time

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugboard.netxml import (
    Network,
    NetworkXMLError,
    format_network,
    network_from_json,
    network_json_schema,
    network_to_json,
    parse_network,
)
from plugboard.netxml.safe import parse_xml
from plugboard.netxml.xmlmodel import Node, NodeField
from tests.netxml.corpus import DATA, INVALID, VALID, networks

CORPUS = [p.read_text() for p in VALID]


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_canonical_form_is_stable(path):
    once = format_network(parse_network(path.read_text()))
    assert format_network(parse_network(once)) == once


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_json_round_trip_is_lossless(path):
    net = parse_network(path.read_text())
    doc = json.loads(json.dumps(network_to_json(net)))
    again = network_from_json(doc)
    assert again == net
    assert format_network(again) == format_network(net)


def test_json_schema_accepts_every_corpus_network_and_refuses_unknown_fields():
    validator = jsonschema_rs.validator_for(network_json_schema())
    for text in CORPUS:
        validator.validate(network_to_json(parse_network(text)))
    assert not validator.is_valid({"name": "x", "colour": "blue"})
    with pytest.raises(NetworkXMLError, match="/network: unknown field"):
        network_from_json({"name": "x", "colour": "blue"})


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_documents_are_refused(path):
    with pytest.raises(NetworkXMLError):
        parse_network(path.read_text())


@pytest.mark.parametrize(
    ("xml", "place", "words"),
    [
        (
            "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
            "<range start='10.0.0.2' end='10.0.0.9'/><range start='10.0.0.20' end='10.0.1.9'/>"
            "</dhcp></ip></network>",
            "/network/ip[1]/dhcp/range[2]/@end",
            "not entirely within",
        ),
        (
            "<network><name>n</name><forward mode='magic'/></network>",
            "/network/forward[1]/@mode",
            "allowed: nat, route, open, bridge",
        ),
        (
            "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
            "<range start='10.0.0.2' end='10.0.0.255'/></dhcp></ip></network>",
            "/network/ip[1]/dhcp/range[1]/@end",
            "broadcast",
        ),
        (
            "<network><name>n</name><forward mode='bridge'/><bridge name='b' stp='off'/></network>",
            "/network/bridge/@stp",
            "only allowed in route, nat",
        ),
        (
            "<network><name>n</name><portgroup name='a' default='yes'/>"
            "<portgroup name='b' default='yes'/></network>",
            "/network/portgroup[2]/@default",
            "only one",
        ),
    ],
)
def test_errors_name_the_place_and_say_what_is_allowed(xml, place, words):
    with pytest.raises(NetworkXMLError) as caught:
        parse_network(xml)
    assert caught.value.path == place
    assert words in caught.value.message


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<network><name>&lol3;</name></network>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE network [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<network><name>&xxe;</name></network>"""


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        EXTERNAL,
        "<network><name>" + "x" * (4 * 1024 * 1024) + "</name></network>",
        "<network><metadata>" + "<a>" * 5000 + "</a>" * 5000 + "</metadata></network>",
        "<network><name>n</name>",
        "",
        "not xml at all",
        "<domain/>",
        b"\xff\xfe<network/>",
        "<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE x [<!ENTITY a 'b'>]><network/>".encode(
            "utf-16"
        ),
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "oversize",
        "deep",
        "truncated",
        "empty",
        "text",
        "other-root",
        "bad-bytes",
        "utf-16-dtd",
    ],
)
def test_hostile_input_is_refused_quickly(text):
    started = time.monotonic()
    with pytest.raises(NetworkXMLError):
        parse_network(text)
    assert time.monotonic() - started < 0.5


@settings(max_examples=400, deadline=None)
@given(base=st.sampled_from(CORPUS), data=st.data())
def test_mutated_documents_raise_nothing_but_networkxmlerror(base, data):
    raw = bytearray(base.encode())
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "value"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at : at + data.draw(st.integers(1, 40))]
        elif kind == "insert":
            raw[at:at] = data.draw(
                st.sampled_from([b"<", b"'", b"&", b"<x>", b"='-1'", b"0x", b"::", b"/>", b"]]>"])
            )
        else:
            raw = raw.replace(
                b"'",
                b"'" + data.draw(st.sampled_from([b"-", b"99999999999999999999", b"%d", b" "])),
                1,
            )
    with contextlib.suppress(NetworkXMLError):
        parse_network(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(xml=networks())
def test_generated_networks_never_raise_anything_else(xml):
    try:
        net = parse_network(xml)
    except NetworkXMLError:
        return
    # libvirt's own writing settles in two rounds: limits that are all 0 are written as an
    # empty <bandwidth></bandwidth> pair the first time, and that pair as nothing the next.
    canonical = format_network(parse_network(format_network(net)))
    assert format_network(parse_network(canonical)) == canonical


def test_a_bandwidth_of_zero_limits_is_written_as_libvirt_does_round_after_round():
    zero = "<portgroup name='0'><bandwidth><outbound average='0'/></bandwidth></portgroup>"
    once = format_network(parse_network(f"<network><name>n</name>{zero}</network>"))
    assert "<bandwidth>\n    </bandwidth>" in once  # libvirt's first write (seen with 9.0)
    twice = format_network(parse_network(once))
    assert "bandwidth" not in twice and "<portgroup name='0'>\n  </portgroup>" in twice


def _used_fields(node: Node, seen: set[tuple[str, str]]) -> None:
    for f in node.FIELDS:
        value = getattr(node, f.key)
        if value in (None, []):
            continue
        seen.add((type(node).__name__, f.key))
        if isinstance(f, NodeField):
            for item in value if f.many else [value]:
                _used_fields(item, seen)


def _declared(cls: type[Node], out: set[tuple[str, str]]) -> None:
    for f in cls.FIELDS:
        if (cls.__name__, f.key) in out:
            continue
        out.add((cls.__name__, f.key))
        if isinstance(f, NodeField):
            _declared(f.cls, out)


# <forward dev> is never held: libvirt writes it from the first interface.
NOT_WRITTEN = {("Forward", "dev")}


def test_every_declared_field_is_exercised_by_the_corpus():
    """Valid documents, and invalid ones for what libvirt refuses (floor in a network)."""
    seen: set[tuple[str, str]] = set()
    for path in VALID + INVALID:
        with contextlib.suppress(NetworkXMLError):  # a value the model itself refuses
            _used_fields(Network.from_element(parse_xml(path.read_text()), "/network"), seen)
    declared: set[tuple[str, str]] = set()
    _declared(Network, declared)
    assert declared - seen - NOT_WRITTEN == set()


def test_runtime_state_is_kept_only_for_live_xml():
    text = (DATA / "runtime-connections.xml").read_text()
    assert "connections" not in format_network(parse_network(text))
    live = format_network(parse_network(text, live=True))
    assert "<network connections='4'>" in live
    assert "<interface dev='eth1' connections='3'/>" in live
    assert "<interface dev='eth2'/>" in live
