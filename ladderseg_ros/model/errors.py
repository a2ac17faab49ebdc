"""The model's error type, in its own module so that every model module can raise it."""

from __future__ import annotations

from ladderseg_ros.errors import LadderSegError


class ModelError(LadderSegError, ValueError):
    """An invalid architecture setting or variant name; the message names the bad value.

    A ``ValueError`` too, so that code catching malformed configs as ``ValueError`` keeps working.
    """


def check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``low..high`` (bools and non-integral numbers are refused).

    Raises:
        ModelError: naming the field, the value and the accepted range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        raise ModelError(f"{name} must be in {low}..{high}, got {value}")
    return value


def check_float(name: str, value: object, low: float, high: float) -> float:
    """``value`` as a finite float in ``[low, high]``.

    Raises:
        ModelError: naming the field, the value and the accepted range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    number = float(value)
    if not low <= number <= high:  # NaN fails every comparison
        raise ModelError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return number
