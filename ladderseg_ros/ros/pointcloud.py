"""``sensor_msgs/PointCloud2`` from the cloud arrays of ``ladderseg_ros.points``.

The structured array already has the message's point layout (``POINT_FIELDS``), so the
message wraps its bytes once; rclpy messages here, rosbags ones in ``tools.bags``.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from ladderseg_ros.points import POINT_DTYPE, POINT_FIELDS, POINT_STEP
from ladderseg_ros.ros.conversions import message_bytes


def point_fields() -> list[PointField]:
    """The PointFields of ``POINT_FIELDS`` (x, y, z, rgb, confidence float32; label uint8)."""
    return [
        PointField(name=name, offset=offset, datatype=datatype, count=count)
        for name, offset, datatype, count in POINT_FIELDS
    ]


def points_to_msg(points: np.ndarray, header: Header | None = None) -> PointCloud2:
    """A PointCloud2 of a (rows, cols) ``POINT_DTYPE`` array (organized when rows > 1).

    ``is_dense`` is False when any x, y, z is NaN (invalid points kept in the grid).

    Raises:
        ValueError: ``points`` is not a 2-D ``POINT_DTYPE`` array.
    """
    if points.dtype != POINT_DTYPE or points.ndim != 2:
        raise ValueError(f"points must be 2-D {POINT_DTYPE}, got {points.dtype}{points.shape}")
    points = np.ascontiguousarray(points)
    msg = PointCloud2()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(points.shape[0]), int(points.shape[1])
    msg.fields = point_fields()
    msg.is_bigendian = False
    msg.point_step = POINT_STEP
    msg.row_step = POINT_STEP * msg.width
    msg.is_dense = bool(not np.isnan(points["z"]).any())
    msg.data = message_bytes(points)
    return msg
