"""`plugboard serve`, killed with SIGKILL at a chosen moment of a vNIC change, for the
fault-injection tests. PLUGBOARD_FAULT says when:

    after:STEP, before:STEP   at a step boundary (steps: mark, update, unplug, unplug-config,
                              plug, plug-config, record, define, reconnect)
    delay:SECONDS             that long after the first step of the first change begins

The product has no test hook: this launcher injects a step watcher into the executor
(plugboard.engine.executor.watch_steps), then runs the service as `plugboard serve` does.
"""

import os
import signal
import threading

from plugboard.engine.executor import watch_steps
from plugboard.service import run
from plugboard.settings import Settings


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(fault: str) -> None:
    if fault.startswith(("after:", "before:")):
        watch_steps(lambda where: die() if where == fault else None)
    elif fault.startswith("delay:"):
        delay = float(fault.removeprefix("delay:"))
        armed = threading.Event()

        def arm(_where: str) -> None:
            if not armed.is_set():
                armed.set()
                threading.Timer(delay, die).start()

        watch_steps(arm)


if __name__ == "__main__":
    install(os.environ.get("PLUGBOARD_FAULT", ""))
    run(Settings())
