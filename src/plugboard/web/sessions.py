"""Web sessions: who signed in, kept in the service's memory, never the token or password.

The cookie holds a random session id and nothing else; the service keeps, under the id's
SHA-256, who signed in (the token's SHA-256, the form the store keeps it in; or the user's id,
for a sign-in with a password), the CSRF token of the session's forms, and when it was last
used. Every request asks the store again whether the token or user is still good, so a token
revoked, a user disabled or demoted ends or narrows their sessions at once. A sign-in always
opens a new session (a new id) and closes the one the browser had: an id set before sign-in,
by whoever could set it, is worth nothing after. A session unused for `idle_seconds` ends.

What survives a restart: nothing. Sessions live in this process only, so a restarted service
signs everybody out and they sign in again with their token. That is chosen: no session
secret or signing key on disk, nothing a stolen database or config file could replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "pb_session"
SIGN_IN_COOKIE = "pb_sign_in"  # the sign-in form's CSRF value, as a double-submit cookie
IDLE_SECONDS = 30 * 60.0  # by default a session unused this long is gone (a setting)
MAX_SESSIONS = 10_000  # beyond this, the least recently used goes


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class WebSession:
    """Who signed in: with a token (its hash) or with a password (the user's id)."""

    token_hash: str | None
    user_id: int | None
    used: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), (sent or "").encode())


class SessionStore:
    """The signed-in sessions of this process."""

    def __init__(
        self, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_seconds, self.clock = idle_seconds, clock
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def open(
        self, *, token_hash: str | None = None, user_id: int | None = None
    ) -> tuple[str, WebSession]:
        """A new session for a token or a user; returns the id for the cookie (kept only
        hashed)."""
        if (token_hash is None) == (user_id is None):
            raise ValueError("a session is for a token or for a user")
        session_id = secrets.token_urlsafe(32)
        session = WebSession(token_hash, user_id, self.clock())
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].used)
                del self._sessions[oldest]
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> WebSession | None:
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(_key(session_id))
            if session is None:
                return None
            if now - session.used > self.idle_seconds:
                del self._sessions[_key(session_id)]
                return None
            session.used = now
            return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_key(session_id), None)
