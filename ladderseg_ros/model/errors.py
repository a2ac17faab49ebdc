"""The model's error type, in its own module so that every model module can raise it."""

from __future__ import annotations

from ladderseg_ros.errors import LadderSegError


class ModelError(LadderSegError, ValueError):
    """An invalid architecture setting or variant name; the message names the bad value.

    A ``ValueError`` too, so that code catching malformed configs as ``ValueError`` keeps working.
    """
