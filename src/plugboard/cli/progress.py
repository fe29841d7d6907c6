"""Progress on stderr while the CLI waits, only on a terminal: a spinner with the seconds left,
or a bar of the work done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
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


class Bar:
    """A progress bar's handle: `show(done, failed)` as the work goes on."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def show(self, done: int, failed: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, failed=failed)


@contextmanager
def bar(message: str, total: int) -> Iterator[Bar]:
    """A progress bar on stderr ("message ━━━━━ 3/4 1 failed 0:00:05") while the block runs;
    nothing when stderr is not a terminal."""
    console = stderr()
    if not console.is_terminal:
        yield Bar(None, None)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        yield Bar(progress, progress.add_task(message, total=total, failed=0))
