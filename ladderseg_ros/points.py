"""The semantic point cloud: disparity + calibration + labels -> x, y, z, rgb, label, confidence.

Pure NumPy, free of ROS: ``semantic_points`` builds a structured array whose memory layout is
the ``sensor_msgs/PointCloud2`` point layout described by ``POINT_FIELDS``, so the ROS side
(``io.messages.pointcloud_msg``, for rclpy and rosbags) only wraps its bytes. Geometry follows
stereo_image_proc's ``point_cloud_node`` (rectified pinhole stereo): Z = f*B/d,
X = (u - cx) * Z / fx, Y = (v - cy) * Z / fy, in the left camera's optical frame (x right,
y down, z forward), metres. Colours are packed as PCL's ``PointXYZRGB`` and RViz's ``RGB8``
transformer read them: the float32 whose bits are ``r << 16 | g << 8 | b``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ladderseg_ros.errors import LadderSegError

# PointField datatype codes (sensor_msgs/PointField)
UINT8 = 2
FLOAT32 = 7
# (name, byte offset, PointField datatype, count): the layout of one 24-byte point
POINT_FIELDS: tuple[tuple[str, int, int, int], ...] = (
    ("x", 0, FLOAT32, 1),
    ("y", 4, FLOAT32, 1),
    ("z", 8, FLOAT32, 1),
    ("rgb", 12, FLOAT32, 1),
    ("confidence", 16, FLOAT32, 1),
    ("label", 20, UINT8, 1),
)
POINT_STEP = 24
POINT_DTYPE = np.dtype(
    {
        "names": [f[0] for f in POINT_FIELDS],
        "formats": ["<f4" if f[2] == FLOAT32 else "u1" for f in POINT_FIELDS],
        "offsets": [f[1] for f in POINT_FIELDS],
        "itemsize": POINT_STEP,
    }
)
COLOR_SOURCES = ("label", "image")


class PointsError(LadderSegError, ValueError):
    """The inputs of a point cloud do not fit together (shapes, calibration, settings)."""


@dataclass(frozen=True)
class PointsConfig:
    """How the cloud is sampled.

    Attributes:
        decimation: Keep every ``decimation``-th row and column (1 = every pixel).
        max_range: Points with Z beyond this (m) are invalid; ``inf`` keeps all.
        organized: Keep the (rows, cols) grid with NaN x, y, z where invalid (like
            stereo_image_proc); False keeps only the valid points, height 1.
        color: ``label`` packs the class palette colour into ``rgb``; ``image`` the pixel's.
    """

    decimation: int = 1
    max_range: float = math.inf
    organized: bool = True
    color: str = "label"

    def __post_init__(self) -> None:
        if self.decimation < 1:
            raise PointsError(f"points decimation {self.decimation}: expected >= 1")
        if not self.max_range > 0:
            raise PointsError(f"points max_range {self.max_range}: expected > 0 m")
        if self.color not in COLOR_SOURCES:
            raise PointsError(f"points color {self.color!r}: expected one of {COLOR_SOURCES}")


@dataclass(frozen=True)
class StereoGeometry:
    """Rectified stereo geometry of the left image, in pixels of that image.

    Attributes:
        fx, fy: Focal lengths (px); ``fx`` also converts disparity to depth.
        cx, cy: Principal point (px).
        baseline: Distance between the camera centres (m).
        depth_focal: Focal length (px) of the disparity, for Z = f*B/d (a DisparityImage's
            ``f``); None = ``fx``.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    baseline: float
    depth_focal: float | None = None

    def __post_init__(self) -> None:
        if self.depth_focal is None:
            object.__setattr__(self, "depth_focal", self.fx)
        values = (self.fx, self.fy, self.cx, self.cy, self.baseline, self.depth_focal)
        if not all(math.isfinite(v) for v in values) or min(values[0], values[1], values[5]) <= 0:
            raise PointsError(f"stereo geometry {values}: focal lengths must be finite and > 0")
        if self.baseline <= 0:
            raise PointsError(f"stereo baseline {self.baseline} m: expected > 0")

    @classmethod
    def from_projection(cls, p: Sequence[float], focal: float, baseline: float) -> StereoGeometry:
        """From the left camera's 3x4 projection P (row major, as CameraInfo.p).

        fx, fy, cx, cy come from P; ``focal`` and ``baseline`` are the disparity's (P[0,0]
        for computed disparity; a received DisparityImage's ``f`` and ``T``).

        Raises:
            PointsError: P is not 12 values, or the geometry is degenerate.
        """
        if len(p) != 12:
            raise PointsError(f"projection has {len(p)} values, expected 12 (3x4)")
        fx, fy, cx, cy = (float(p[i]) for i in (0, 5, 2, 6))
        return cls(fx, fy, cx, cy, float(baseline), float(focal))


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> float32 whose bits are ``r << 16 | g << 8 | b`` (PCL, RViz)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.astype(np.uint32).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of ``pack_rgb``: float32 -> (..., 3) uint8."""
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> s) & 0xFF for s in (16, 8, 0)], axis=-1).astype(np.uint8)


def semantic_points(
    disparity: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    color: np.ndarray,
    geometry: StereoGeometry,
    config: PointsConfig = PointsConfig(),
    palette: np.ndarray | None = None,
) -> np.ndarray:
    """The labelled cloud of one frame, vectorized (no loop per point).

    Args:
        disparity: (H, W) float32 disparity (px) of the left image; <= 0 or non-finite is
            invalid.
        labels: (H, W) uint8 class indices (trainIds).
        confidence: (H, W) float32 confidence of each label.
        color: (H, W, 3) uint8 RGB image, packed into ``rgb`` when ``palette`` is None.
        geometry: Calibration in pixels of these arrays.
        config: Decimation, range, organization (``config.color`` is the caller's choice
            between passing ``palette`` or not).
        palette: (N, 3) uint8 colour per class: ``rgb`` is ``palette[label]``.

    Returns:
        ``POINT_DTYPE`` array: (ceil(H/k), ceil(W/k)) when organized (NaN x, y, z where the
        disparity is invalid or Z > max_range), else (1, valid points). Row i, column j is
        pixel (i*k, j*k).

    Raises:
        PointsError: The arrays differ in size.
    """
    disparity = np.asarray(disparity)
    height, width = disparity.shape[:2]
    for name, array in (("labels", labels), ("confidence", confidence), ("color", color)):
        if array.shape[:2] != (height, width):
            raise PointsError(
                f"point cloud: {name} is {array.shape[1]}x{array.shape[0]}, "
                f"disparity {width}x{height}"
            )
    k = config.decimation
    d = disparity[::k, ::k].astype(np.float32, copy=False)
    rows, cols = d.shape
    valid = np.isfinite(d) & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.float32(geometry.depth_focal * geometry.baseline) / d
    valid &= z <= config.max_range
    z = np.where(valid, z, np.float32(np.nan))
    u = np.arange(0, width, k, dtype=np.float32)
    v = np.arange(0, height, k, dtype=np.float32)
    points = np.empty((rows, cols), dtype=POINT_DTYPE)
    points["x"] = (u[None, :] - np.float32(geometry.cx)) * (z / np.float32(geometry.fx))
    points["y"] = (v[:, None] - np.float32(geometry.cy)) * (z / np.float32(geometry.fy))
    points["z"] = z
    kept = labels[::k, ::k]
    points["rgb"] = pack_rgb(color[::k, ::k] if palette is None else palette[kept])
    points["confidence"] = confidence[::k, ::k]
    points["label"] = kept
    if config.organized:
        return points
    return points[valid][None, :]
