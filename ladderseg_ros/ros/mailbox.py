"""``NewestSlot``: the one-place mailbox between the node's callbacks and its worker.

A new pair replaces an unprocessed one, so latency stays bounded.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class NewestSlot(Generic[T]):
    """A single-item mailbox: ``put`` replaces what is waiting; ``get`` blocks with a timeout."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced an item nobody had taken (a dropped pair)."""
        with self._cond:
            dropped = self._item is not None
            self._item = item
            if dropped:
                self.replaced += 1
            self._cond.notify()
            return dropped

    def offer(self, item: T) -> bool:
        """Store ``item`` only if nothing waits (an older item must not replace a newer one)."""
        with self._cond:
            if self._item is not None:
                return False
            self._item = item
            self._cond.notify()
            return True

    def clear(self) -> None:
        """Forget the waiting item, if any (not counted as replaced)."""
        with self._cond:
            self._item = None

    def wake(self) -> None:
        """Wake a ``get`` waiting now (work arrived elsewhere)."""
        with self._cond:
            self._cond.notify()

    def get(self, timeout: float) -> T | None:
        """Take the waiting item, waiting up to ``timeout`` seconds; None if nothing came."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item
