"""``io.messages`` bound to rclpy's message classes: the node's message factory.

The converter itself (decoding, validation, the fields and rules of every message) lives in
``ladderseg_ros.io.messages`` and reads rclpy and rosbags messages alike; this module only
says how rclpy builds them (``RCLPY``) and keeps the short names the node's tests and
benchmarks use.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.io import messages
from ladderseg_ros.io.messages import (
    DisparityImageMessage,
    Header,
    ImageMessage,
    PointCloudMessage,
)

__all__ = [
    "RCLPY",
    "MessageTypeError",
    "RclpyTypes",
    "array_to_image",
    "disparity_to_msg",
    "message_class",
    "points_to_msg",
]

# struct typecodes of the array.array rclpy keeps in unbounded numeric array fields
_TYPECODES = {np.dtype(np.uint8): "B", np.dtype(np.float64): "d", np.dtype(np.float32): "f"}


class MessageTypeError(LadderSegError):
    """A message type is not installed (names it)."""


@cache
def message_class(msgtype: str) -> type:
    """The installed Python class of ``pkg/msg/Name``.

    Raises:
        MessageTypeError: The package or message is not installed.
    """
    package, _, name = msgtype.rpartition("/")
    module_name = package.replace("/", ".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise MessageTypeError(f"message type {msgtype} is not installed ({exc})") from exc


class _Sequence:
    """Values for an unbounded numeric array field, copied in when the message is built."""

    def __init__(self, values: np.ndarray) -> None:
        if values.dtype not in _TYPECODES:
            raise TypeError(f"no rclpy array field holds {values.dtype}")
        self.values = np.ascontiguousarray(values).reshape(-1)


class RclpyTypes:
    """``io.messages.MessageTypes`` of rclpy's generated message classes.

    Array fields are filled in place, one copy: the generated setters copy an
    ``array.array`` given to them element by element where field checks are off (Jazzy's
    default: 13 ms for a 6 MB image), and a ``bytes`` value costs a copy of its own.
    """

    def new(self, msgtype: str, **fields: Any) -> Any:  # noqa: ANN401 - a message of msgtype
        """An rclpy message of ``msgtype`` with ``fields``."""
        arrays = {k: v for k, v in fields.items() if isinstance(v, _Sequence)}
        msg = message_class(msgtype)(**{k: v for k, v in fields.items() if k not in arrays})
        for name, sequence in arrays.items():
            field = getattr(msg, name)  # the message's own (empty) array.array
            if field.typecode != _TYPECODES[sequence.values.dtype]:
                raise TypeError(f"{msgtype}.{name} is not a {sequence.values.dtype} array")
            field.frombytes(sequence.values.view(np.uint8))
        return msg

    def sequence(self, values: np.ndarray) -> _Sequence:
        """``values`` for an unbounded numeric array field of ``new`` (copied in once there)."""
        return _Sequence(values)


RCLPY = RclpyTypes()


def array_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> ImageMessage:
    """Wrap an array as an rclpy Image (``io.messages.image_msg``; header default: empty).

    Raises:
        EncodingError: The array does not fit ``encoding``.
    """
    return messages.image_msg(RCLPY, pixels, encoding, header or RCLPY.new("std_msgs/msg/Header"))


def disparity_to_msg(
    disparity: np.ndarray,
    focal: float,
    baseline: float,
    header: Header | None = None,
    *,
    delta_d: float,
    min_disparity: float = 0.0,
    max_disparity: float | None = None,
) -> DisparityImageMessage:
    """Wrap a float32 disparity (0 = invalid) as an rclpy DisparityImage.

    See ``io.messages.disparity_msg``.
    """
    return messages.disparity_msg(
        RCLPY,
        disparity,
        focal,
        baseline,
        header or RCLPY.new("std_msgs/msg/Header"),
        delta_d=delta_d,
        min_disparity=min_disparity,
        max_disparity=max_disparity,
    )


def points_to_msg(points: np.ndarray, header: Header | None = None) -> PointCloudMessage:
    """An rclpy PointCloud2 of a (rows, cols) ``points.POINT_DTYPE`` array.

    Raises:
        EncodingError: ``points`` is not a 2-D ``POINT_DTYPE`` array.
    """
    return messages.pointcloud_msg(RCLPY, points, header or RCLPY.new("std_msgs/msg/Header"))
