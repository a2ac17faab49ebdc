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
