"""Failed sign-ins, counted per key (a username, a client address) over a sliding minute:
at `limit` failures within `window` seconds, the key waits until the oldest of them is a
window old. Kept in the service's memory, as the web sessions are: a restart forgets them."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

LIMIT = 10
WINDOW = 60.0
MAX_KEYS = 100_000  # beyond this, keys whose failures are all a window old are dropped


class Throttle:
    def __init__(
        self,
        limit: int = LIMIT,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int | None:
        """Whole seconds until every key may try again; None if they may now."""
        now = self.clock()
        waits = []
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.limit:
                    waits.append(failures[-self.limit] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._prune(now)
            for key in keys:
                failures = self._failures.setdefault(key, deque())
                failures.append(now)
                while len(failures) > self.limit:
                    failures.popleft()

    def forgive(self, key: str) -> None:
        """Forget a key's failures (its user signed in)."""
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        return failures

    def _prune(self, now: float) -> None:
        self._failures = {
            k: f for k, f in self._failures.items() if f and now - f[-1] < self.window
        }
