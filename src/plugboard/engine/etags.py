"""Optimistic locking with RFC 9110's ETag and If-Match, for every object that has an ETag
(vNICs, networks): a change names the ETag it read, and a stale one gets 412."""

from __future__ import annotations

import hashlib
import re

from plugboard.errors import PreconditionFailed

# RFC 9110's If-Match: "*" or a list of entity tags, each strong ("...") or weak (W/"...").
_TAG = r'(W/)?"[\x21\x23-\x7E]*"'
_IF_MATCH = re.compile(rf"\*|{_TAG}(\s*,\s*{_TAG})*")
_ENTITY_TAG = re.compile(_TAG)


def etag_of(text: str) -> str:
    """A strong ETag of `text` (what a client can change on an object, written out)."""
    return f'"{hashlib.sha256(text.encode()).hexdigest()[:20]}"'


def check_etag(etag: str, if_match: str | None, what: str) -> None:
    """PRECONDITION_FAILED unless `if_match` (an If-Match header) is * or lists `etag`, the
    ETag of `what` ("vNIC nic1", "network lab") as it is now. As RFC 9110 says: strong
    comparison (a weak tag never matches), and a header that is no list of entity tags
    matches nothing."""
    value = (if_match or "*").strip()
    if value == "*":
        return
    if not _IF_MATCH.fullmatch(value):
        raise PreconditionFailed(
            f'If-Match {value[:80]!r} is neither * nor a list of entity tags ("..."); send '
            f"the ETag of {what} as you read it (now {etag})",
            etag=etag,
        )
    if etag not in (tag.group() for tag in _ENTITY_TAG.finditer(value)):
        raise PreconditionFailed(
            f"{what} changed since you read it (ETag {etag}); read it again and retry",
            etag=etag,
        )
