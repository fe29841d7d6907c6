"""Passwords, kept only as argon2id hashes (argon2-cffi's PasswordHasher, with its default
parameters: RFC 9106's second recommended set, 64 MiB and 3 passes). Never hashed by hand."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from plugboard.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; this bounds the work a request can ask for
RULE = f"{MIN_LENGTH}-{MAX_LENGTH} characters"

_hasher = PasswordHasher()  # argon2id


@cache
def _decoy() -> str:
    """What an unknown user's password is checked against, so a sign-in takes as long
    whether the user exists or not (made once, when first needed)."""
    return _hasher.hash("not the password of anyone")


def check(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"a password has {RULE}", field="password")
    return password


def hash_password(password: str) -> str:
    """The password's argon2id hash, with a salt of its own (PHC string format)."""
    return _hasher.hash(check(password))


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (make it again at the
    next good sign-in)."""
    return _hasher.check_needs_rehash(password_hash)


def waste_time(password: str) -> None:
    verify(_decoy(), password)
