"""Sign-in safety, pure: password hashes, the throttle of failed sign-ins, and web sessions
(rotation, idle expiry), each on a clock the test moves."""

import pytest
from argon2 import PasswordHasher

from plugboard.engine import passwords
from plugboard.engine.throttle import Throttle
from plugboard.errors import InvalidInput
from plugboard.web.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- passwords ---------------------------------------------------------------------------
def test_a_password_is_kept_as_a_salted_argon2id_hash():
    first, second = (
        passwords.hash_password("correct horse"),
        passwords.hash_password("correct horse"),
    )
    assert first.startswith("$argon2id$") and "correct horse" not in first
    assert first != second  # a salt of its own
    assert passwords.verify(first, "correct horse")
    assert not passwords.verify(first, "correct horsf")
    assert not passwords.verify("not a hash", "correct horse")


def test_a_hash_made_with_older_parameters_needs_making_again():
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("correct horse")
    assert passwords.verify(old, "correct horse")
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.hash_password("correct horse"))


@pytest.mark.parametrize("password", ["", "seven..", "x" * 1025])
def test_a_password_too_short_or_too_long_is_refused(password: str):
    with pytest.raises(InvalidInput) as refused:
        passwords.hash_password(password)
    assert refused.value.extra == {"field": "password"}
    assert password not in refused.value.detail or not password


# --- the throttle ------------------------------------------------------------------------
def test_ten_failures_in_a_minute_make_a_key_wait_until_the_oldest_is_a_minute_old():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(9):
        throttle.failed("user:bob")
        clock.now += 1
    assert throttle.retry_after("user:bob") is None
    throttle.failed("user:bob")  # the 10th, 9 s after the first
    assert throttle.retry_after("user:bob") == 51
    assert throttle.retry_after("user:carol") is None
    clock.now += 50.5
    assert throttle.retry_after("user:bob") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert throttle.retry_after("user:bob") is None  # the first is a minute old


def test_failures_spread_over_more_than_a_minute_never_wait():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(100):
        throttle.failed("address:10.0.0.1")
        assert throttle.retry_after("address:10.0.0.1") is None
        clock.now += 6.7  # ten span more than a minute


def test_any_key_at_its_limit_makes_the_attempt_wait_and_forgive_clears_one():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for i in range(10):  # one address, ten usernames: the address is at its limit
        throttle.failed("address:10.0.0.1", f"user:u{i}")
    assert throttle.retry_after("address:10.0.0.2", "user:u0") is None
    assert throttle.retry_after("address:10.0.0.1", "user:new") == 60
    for _ in range(10):
        throttle.failed("user:bob")
    throttle.forgive("user:bob")
    assert throttle.retry_after("user:bob") is None


# --- web sessions ------------------------------------------------------------------------
def test_a_session_unused_for_the_idle_time_ends_and_use_keeps_it():
    clock = Clock()
    sessions = SessionStore(idle_seconds=1800, clock=clock)
    session_id, session = sessions.open(user_id=7)
    clock.now += 1799
    assert sessions.get(session_id) is session  # used: its idle time starts again
    clock.now += 1799
    assert sessions.get(session_id) is session
    clock.now += 1801
    assert sessions.get(session_id) is None
    clock.now += 1
    assert sessions.get(session_id) is None  # gone, not only expired


def test_each_sign_in_is_a_new_id_and_closing_the_old_one_ends_it():
    sessions = SessionStore()
    old_id, old = sessions.open(token_hash="0" * 64)
    new_id, new = sessions.open(user_id=7)
    sessions.close(old_id)  # what the sign-in does with the id the browser had
    assert new_id != old_id and new.csrf != old.csrf
    assert sessions.get(old_id) is None
    assert sessions.get(new_id) is new
    assert (new.user_id, new.token_hash) == (7, None)


def test_a_session_is_for_a_token_or_a_user():
    with pytest.raises(ValueError):
        SessionStore().open()
    with pytest.raises(ValueError):
        SessionStore().open(token_hash="0" * 64, user_id=1)
