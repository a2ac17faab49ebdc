"""The semantic point cloud: disparity + calibration + labels -> x, y, z, rgb, label, confidence.

Pure NumPy, free of ROS: ``semantic_points`` builds a structured array whose memory layout is
the ``sensor_msgs/PointCloud2`` point layout described by ``POINT_FIELDS``, so the ROS side
(``io.messages.pointcloud_msg``, for rclpy and rosbags) only wraps its bytes. Geometry follows
stereo_image_proc's ``point_cloud_node`` (rectified pinhole stereo): Z = f*B/d,
X = (u - cx) * Z / fx, Y = (v - cy) * Z / fy, in the left camera's optical frame (x right,
y down, z forward), metres. A point is invalid, NaN x, y, z and never an inf, where the
disparity is not finite and > 0, Z exceeds ``max_range``, or x, y or z would leave half of
float32's range (a tiny positive disparity overflows f*B/d to inf).

The fields are those PCL's ``pcl::PointXYZRGBL`` reads (``pcl::fromROSMsg`` maps message
fields by name, datatype and count, at any offset): x, y, z float32, ``rgb`` float32 (PCL's
``rgba`` field accepts a float32 ``rgb``; RViz's ``RGB8`` transformer reads it) holding the
bits ``r << 16 | g << 8 | b``, ``label`` uint32 (as PCL's PointXYZL and PointXYZRGBL), plus
``confidence`` float32, which PCL ignores. 24 bytes a point, no padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.stereo import MAX_FOCAL_PX, StereoError, check_baseline, check_focal

# PointField datatype codes (sensor_msgs/PointField)
UINT32 = 6
FLOAT32 = 7
# (name, byte offset, PointField datatype, count): the layout of one 24-byte point
POINT_FIELDS: tuple[tuple[str, int, int, int], ...] = (
    ("x", 0, FLOAT32, 1),
    ("y", 4, FLOAT32, 1),
    ("z", 8, FLOAT32, 1),
    ("rgb", 12, FLOAT32, 1),
    ("label", 16, UINT32, 1),
    ("confidence", 20, FLOAT32, 1),
)
POINT_STEP = 24
POINT_DTYPE = np.dtype(
    {
        "names": [f[0] for f in POINT_FIELDS],
        "formats": ["<f4" if f[2] == FLOAT32 else "<u4" for f in POINT_FIELDS],
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

    Raises:
        PointsError: A value is not finite, a focal length is outside [0.044, 1e6] px, the
            principal point beyond 1e6 px, or the baseline outside [1 mm, 100 m]
            (``stereo.check_focal`` and ``check_baseline``): the message names the value.
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
        try:
            for name in ("fx", "fy", "depth_focal"):
                check_focal(getattr(self, name), None, f"stereo geometry {name}")
            check_baseline(self.baseline, "stereo baseline")
        except StereoError as exc:
            raise PointsError(str(exc)) from None
        for name in ("cx", "cy"):
            value = getattr(self, name)
            if not abs(value) <= MAX_FOCAL_PX:  # NaN fails too
                raise PointsError(f"stereo geometry {name} {value:.6g} px is implausible")

    @classmethod
    def from_projection(
        cls,
        p: Sequence[float],
        focal: float,
        baseline: float,
        size: tuple[int, int] | None = None,
    ) -> StereoGeometry:
        """From the left camera's 3x4 projection P (row major, as CameraInfo.p).

        fx, fy, cx, cy come from P; ``focal`` and ``baseline`` are the disparity's (P[0,0]
        for computed disparity; a received DisparityImage's ``f`` and ``T``).

        Args:
            p: 12 values.
            focal: Disparity focal length (px).
            baseline: Baseline (m).
            size: (width, height) of the image, to refuse focal lengths whose field of view
                over it exceeds 170 degrees (``stereo.check_focal``); None checks over 1 px.

        Raises:
            PointsError: P is not 12 values, or the geometry is implausible.
        """
        if len(p) != 12:
            raise PointsError(f"projection has {len(p)} values, expected 12 (3x4)")
        fx, fy, cx, cy = (float(p[i]) for i in (0, 5, 2, 6))
        geometry = cls(fx, fy, cx, cy, float(baseline), float(focal))
        if size is not None:
            try:
                check_focal(fx, int(size[0]), "projection fx")
                check_focal(fy, int(size[1]), "projection fy")
                check_focal(float(focal), int(size[0]), "disparity focal length")
            except StereoError as exc:
                raise PointsError(str(exc)) from None
        return geometry


def _depth_limit(geometry: StereoGeometry, width: int, height: int, max_range: float) -> float:
    """Largest Z kept: ``max_range``, and never one whose x, y or z leaves float32.

    Half of float32's range is kept as margin for rounding; a point beyond it (1.7e38 m at
    most) is not a measurement.
    """
    limit = float(np.finfo(np.float32).max) / 2.0
    for focal, centre, extent in (
        (geometry.fx, geometry.cx, width),
        (geometry.fy, geometry.cy, height),
    ):
        offset = max(abs(centre), abs(extent - 1 - centre))  # largest |u - cx| (|v - cy|)
        if offset > 0:
            limit = min(limit, limit * focal / offset)
    return min(limit, max_range)


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
        disparity is invalid, Z > max_range or x, y, z would leave float32's range), else
        (1, valid points). Row i, column j is pixel (i*k, j*k). Never an inf.

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
    limit = np.float32(_depth_limit(geometry, width, height, config.max_range))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.float32(geometry.depth_focal * geometry.baseline) / d
        # NaN, <= 0 and inf (d <= 0, NaN or tiny: f*B/d overflows float32) fail; under the
        # limit x and y are finite too
        valid = (z > 0) & (z <= limit)
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
