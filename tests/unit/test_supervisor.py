"""``depot dev`` restarts a child that exits (real child processes), within a restart budget."""

import os
import signal
import sys
import time

from service.devstack import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
QUITTER = [sys.executable, "-c", "raise SystemExit(3)"]


def until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_killed_child_is_started_again_and_the_others_keep_running():
    stack = Supervisor({"api": SLEEPER, "worker": SLEEPER})
    stack.start()
    try:
        api, worker = stack.children["api"].pid, stack.children["worker"].pid
        os.kill(worker, signal.SIGKILL)
        stack.children["worker"].wait()
        assert stack.check() is None
        assert stack.children["worker"].pid != worker and stack.children["worker"].poll() is None
        assert stack.children["api"].pid == api and stack.children["api"].poll() is None
        assert len(stack.restarts["worker"]) == 1 and stack.restarts["api"] == []
    finally:
        stack.stop()
    assert all(child.poll() is not None for child in stack.children.values())


def test_a_child_that_keeps_exiting_exhausts_its_restart_budget():
    stack = Supervisor({"api": SLEEPER, "worker": QUITTER}, max_restarts=3, window=600)
    stack.start()
    try:
        verdicts: list[str | None] = []

        def gave_up() -> bool:
            if stack.children["worker"].poll() is not None:
                verdicts.append(stack.check())
            return bool(verdicts) and verdicts[-1] is not None

        until(gave_up, "the supervisor never gave up on a child that always exits")
        assert verdicts == [None, None, None, "worker"]  # three restarts, then the stack stops
        assert stack.children["api"].poll() is None
    finally:
        stack.stop()
