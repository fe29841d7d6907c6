"""Progress on stderr while the CLI waits: a spinner with the seconds left, only on a terminal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.text import Text

from plugboard.cli.output import stderr


class _SecondsLeft:
    """The spinner's text, computed at each refresh."""

    def __init__(self, message: str, seconds: float) -> None:
        self.message, self.deadline = message, time.monotonic() + seconds

    def __rich__(self) -> Text:
        left = max(0, round(self.deadline - time.monotonic()))
        return Text(f"{self.message}: {left} s left")


@contextmanager
def waiting(message: str, seconds: float) -> Iterator[None]:
    """A spinner with `message` and the seconds left of `seconds`, while the block runs (a
    blocking request, a poll); nothing when stderr is not a terminal."""
    console = stderr()
    if not console.is_terminal:
        yield
        return
    with console.status(_SecondsLeft(message, seconds)):
        yield
