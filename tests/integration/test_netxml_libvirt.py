"""plugboard.netxml against libvirt itself: the network driver of a real test host formats
every definition, and refuses what it refuses. (libvirt's test:///default driver skips the
network driver's own checks and drops the dnsmasq namespace, so it only judges where the real
driver refuses for a reason of the host's own, such as a PCI device that is not there.)"""

import itertools

import libvirt
import pytest
from hypothesis import HealthCheck, given, settings

from plugboard.netxml import NetworkXMLError, format_network, parse_network
from tests.harness import TestHost
from tests.netxml.corpus import INVALID, VALID, networks, pinned

_serial = itertools.count()


@pytest.fixture(scope="module")
def test_driver():
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


def host_dependent(err: libvirt.libvirtError) -> bool:
    """A refusal about this host's devices (sysfs), not about the definition."""
    return "/sys/" in (err.get_error_message() or "")


def libvirt_says(conn: libvirt.virConnect, xml: str) -> str | libvirt.libvirtError:
    """What libvirt returns from XMLDesc() for `xml` defined, or the error it refuses it with."""
    try:
        net = conn.networkDefineXML(xml)
    except libvirt.libvirtError as err:
        return err
    try:
        return net.XMLDesc(0)
    finally:
        net.undefine()


def plugboard_says(xml: str) -> str | NetworkXMLError:
    try:
        return format_network(parse_network(xml))
    except NetworkXMLError as err:
        return err


def judge(host: TestHost, test_driver: libvirt.virConnect, xml: str):
    """libvirt's answer, and whether it is libvirt's whole verdict. When the real driver
    refuses for a reason of this host's (a PCI device that is not an SR-IOV function here),
    the test driver formats the definition, but its acceptance proves nothing: it skips the
    network driver's checks."""
    theirs = libvirt_says(host.conn, xml)
    if isinstance(theirs, libvirt.libvirtError) and host_dependent(theirs):
        return libvirt_says(test_driver, xml), False
    return theirs, True


def agree(host: TestHost, test_driver: libvirt.virConnect, xml: str) -> None:
    (theirs, whole), ours = judge(host, test_driver, xml), plugboard_says(xml)
    if not whole and isinstance(ours, NetworkXMLError):
        return
    if isinstance(theirs, libvirt.libvirtError):
        assert isinstance(ours, NetworkXMLError), (
            f"libvirt refuses ({theirs.get_error_message()}), plugboard accepts:\n{xml}"
        )
    else:
        assert not isinstance(ours, NetworkXMLError), (
            f"plugboard refuses ({ours}), libvirt accepts:\n{xml}"
        )
        assert ours == theirs, f"for\n{xml}"


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_formats_as_libvirt_does(path, testhost: TestHost, test_driver):
    xml = pinned(path.read_text(), f"pbx{next(_serial)}-")
    assert not isinstance(judge(testhost, test_driver, xml)[0], libvirt.libvirtError)
    agree(testhost, test_driver, xml)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_refuses_what_libvirt_refuses(path, testhost: TestHost, test_driver):
    xml = pinned(path.read_text(), f"pbx{next(_serial)}-")
    theirs, whole = judge(testhost, test_driver, xml)
    assert whole and isinstance(theirs, libvirt.libvirtError)
    assert isinstance(plugboard_says(xml), NetworkXMLError)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(xml=networks())
def test_generated_networks_agree_with_libvirt(testhost: TestHost, test_driver, xml: str):
    agree(testhost, test_driver, pinned(xml, f"pbg{next(_serial)}-"))
