"""Waiting on what the code under test exposes (counters, received messages), never on time.

``spin_until`` re-reads a predicate until it holds; a test states the event it needs
(a counter reached, a message received) instead of sleeping and hoping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

_POLL = threading.Event()  # never set: its wait() is the poll interval


def spin_until(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    what: str = "the condition",
    executor: Any = None,
) -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout`` seconds.

    Args:
        predicate: Re-evaluated until truthy (reads counters or received messages).
        timeout: Seconds before the test fails, naming ``what`` it waited for.
        what: Words for the failure message.
        executor: Spun once per check when the caller has no spinning thread.

    Raises:
        AssertionError: ``predicate`` stayed false for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if executor is not None:
            executor.spin_once(timeout_sec=0.01)
        else:
            _POLL.wait(0.005)


class Spinner:
    """Spins ``executor`` on a thread until ``stop``, which shuts the executor down only after
    the thread has left ``spin_once`` (``Executor.shutdown`` from another thread while
    ``spin()`` runs races it: rclpy then raises inside the spinning thread)."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-spinner", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop spinning (the callback in flight finishes), then shut the executor down."""
        self._stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the spinning thread did not stop"
        self.executor.shutdown(timeout_sec=timeout)
