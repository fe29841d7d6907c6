"""The one table from libvirt's errors to plugboard's, fed with real libvirt errors from
libvirt's test driver: a refusal becomes the error it means, a lost connection is always
HOST_UNREACHABLE, whichever call it interrupts."""

from collections.abc import Callable, Iterator

import libvirt
import pytest

from plugboard.errors import (
    Conflict,
    HostUnreachable,
    InvalidInput,
    NetworkNotFound,
    PlugboardError,
    UpdateVnicFailed,
    VmNotFound,
    VmStateConflict,
)
from plugboard.hosts.adapter import Libvirt
from plugboard.hosts.errors import is_refusal, refusal_explained, refused_as

NETWORK = "<network><name>pbt-errors</name><bridge name='pbterr0'/></network>"


@pytest.fixture
def lv() -> Iterator[Libvirt]:
    conn = libvirt.open("test:///default")
    yield Libvirt(conn, "t")
    conn.close()


@pytest.mark.parametrize(
    ("call", "kind", "code"),
    [
        (lambda lv: lv.domain("nope"), VmNotFound, "VM_NOT_FOUND"),
        (lambda lv: lv.network("nope"), NetworkNotFound, "NETWORK_NOT_FOUND"),
        (lambda lv: lv.network("default").create(), Conflict, "CONFLICT"),
        (lambda lv: lv.define_network("<network><name>x"), InvalidInput, "VALIDATION_ERROR"),
        (lambda lv: lv.domain("test").attach_device("<disk/>", live=True, config=False),
         PlugboardError, None),
    ],
)  # fmt: skip
def test_a_refusal_is_the_error_it_means_with_libvirts_words(lv, call, kind, code):
    with pytest.raises(kind) as caught:
        call(lv)
    err = caught.value
    assert is_refusal(err)
    assert err.libvirt_code is not None and err.libvirt_message
    assert not isinstance(err, HostUnreachable)
    if code is not None:
        assert err.code == code
    assert "`plugboard" in err.detail or err.libvirt_message in err.detail


CALLS: list[Callable[[Libvirt], object]] = [
    lambda lv: lv.domain("test"),
    lambda lv: lv.domains(),
    lambda lv: lv.network("default").create(),
    lambda lv: lv.define_network(NETWORK),
    lambda lv: lv.uri,
]


@pytest.mark.parametrize("call", CALLS)
def test_a_lost_connection_is_host_unreachable_whatever_the_call(call):
    conn = libvirt.open("test:///default")
    lv = Libvirt(conn, "t")
    conn.close()  # the connection is gone under the adapter's feet
    with pytest.raises(HostUnreachable) as caught:
        call(lv)
    assert caught.value.status == 502 and caught.value.code == "HOST_UNREACHABLE"
    assert not is_refusal(caught.value)


def test_a_use_case_names_a_refusal_and_never_a_lost_connection(lv):
    """refused_as gives the use case's own error for libvirt's refusal (UPDATE_VNIC_FAILED,
    VM_STATE_CONFLICT...); a lost connection passes through as HOST_UNREACHABLE."""
    refused = refused_as(lambda words: VmStateConflict(f"VM could not start: {words}"))
    with pytest.raises(VmStateConflict) as caught, refused:
        lv.network("default").create()
    assert caught.value.libvirt_code == libvirt.VIR_ERR_OPERATION_INVALID
    assert caught.value.detail.startswith("VM could not start: ")
    explained = refusal_explained("network 'default' could not start")
    with pytest.raises(Conflict, match=r"^network 'default' could not start: "), explained:
        lv.network("default").create()

    conn = libvirt.open("test:///default")
    gone = Libvirt(conn, "t")
    conn.close()
    with pytest.raises(HostUnreachable), refused_as(UpdateVnicFailed):
        gone.network("default")
