"""What the node does to one stereo pair, free of rclpy so the benchmark can run it bare.

``FrameProcessor`` turns decoded arrays into the output arrays (disparity by SGBM when
needed, segmentation, palette colours, overlay), computing only the outputs asked for.
``FramePipeline`` is the whole per-frame path from messages (decode, calibrate or resize a
received disparity, process, the output disparity's f/T/range): the live node and the
offline ``segment-bag`` both run it, on rclpy and rosbags messages alike (same fields), so
the two cannot drift apart. ``CalibrationGate`` holds the pairs that came before both
CameraInfos (bounded). ``NewestSlot`` is the one-place mailbox between the subscription
callbacks and the worker thread: a new pair replaces an unprocessed one, so latency stays bounded.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cv2
import numpy as np

from ladderseg_ros.classes import LabelSet, palette_lut
from ladderseg_ros.groups import ClassGroups
from ladderseg_ros.points import PointsConfig, StereoGeometry, semantic_points
from ladderseg_ros.stereo import (
    SgbmConfig,
    compute_disparity,
    fit_disparity,
    fitted_num_disparities,
)

T = TypeVar("T")

MODES = ("mono", "compute", "topic")
OUTPUT_DELTA_D = 1.0 / 16.0  # sub-pixel step the output DisparityImage declares (SGBM's)


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


@dataclass(frozen=True)
class Wanted:
    """Which outputs someone listens to."""

    labels: bool = True
    color: bool = True
    overlay: bool = True
    confidence: bool = True
    disparity: bool = True
    groups: bool = False
    points: bool = False

    @property
    def segmentation(self) -> bool:
        outputs = (self.labels, self.color, self.overlay, self.confidence, self.groups)
        return any(outputs) or self.points


@dataclass
class FrameOutputs:
    """Output arrays at the left image's size; None where not requested or not available."""

    labels: np.ndarray | None = None
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None
    confidence: np.ndarray | None = None
    disparity: np.ndarray | None = None
    groups: np.ndarray | None = None  # (H, W) uint8 group ids
    points: np.ndarray | None = None  # ladderseg_ros.points.POINT_DTYPE cloud


def blend_overlay(rgb: np.ndarray, color: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * rgb + alpha * color``, rounded, uint8."""
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, color, alpha, 0.0)


class FrameProcessor:
    """Segment one frame and build the requested outputs.

    Args:
        segmenter: A ``ladderseg_ros.inference.Segmenter`` (or anything with its call API).
        label_set: Palette for ``color`` and ``overlay``.
        sgbm: SGBM settings used when disparity must be computed from the pair.
        groups: Class groups for the ``groups`` output (None: no groups).
        points: Sampling of the ``points`` output (default ``PointsConfig()``).
    """

    def __init__(
        self,
        segmenter: Any,
        label_set: LabelSet,
        sgbm: SgbmConfig,
        groups: ClassGroups | None = None,
        points: PointsConfig | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.sgbm = sgbm
        self.groups = groups
        self.points = points or PointsConfig()
        self.set_label_set(label_set)

    def set_label_set(self, label_set: LabelSet) -> None:
        self.label_set = label_set
        self._lut = palette_lut(label_set)

    def process(
        self,
        left: np.ndarray,
        right: np.ndarray | None = None,
        disparity: np.ndarray | None = None,
        baseline: float | None = None,
        wanted: Wanted = Wanted(),
        overlay_alpha: float = 0.5,
        geometry: StereoGeometry | None = None,
        focal_length: float | None = None,
        cx_offset: float = 0.0,
    ) -> FrameOutputs:
        """Run the pipeline on RGB ``left`` (and ``right`` or a received ``disparity``).

        Disparity is only computed when the model uses it or it is wanted as an output and
        ``right`` is given (``cx_offset`` = cx_left - cx_right, see
        ``stereo.compute_disparity``); a received disparity of another size but the same aspect is
        resized to ``left``'s (``stereo.fit_disparity``; another aspect raises StereoError).
        The point cloud needs disparity and ``geometry`` (else it stays None).
        ``focal_length`` (left fx in pixels, when known) lets the Segmenter run the network
        at the scale its weights were trained at.
        """
        height, width = left.shape[:2]
        uses_disparity = bool(self.segmenter.uses_disparity)
        need_disparity = (uses_disparity and wanted.segmentation) or wanted.points
        if disparity is None and right is not None and (need_disparity or wanted.disparity):
            disparity = compute_disparity(left, right, self.sgbm, cx_offset)
        elif disparity is not None and disparity.shape != (height, width):
            disparity = fit_disparity(disparity, (width, height), "received disparity")
        out = FrameOutputs(disparity=disparity if wanted.disparity else None)
        if not wanted.segmentation:
            return out
        result = self.segmenter(
            left,
            disparity if uses_disparity else None,
            baseline if uses_disparity else None,
            focal_length=focal_length,
        )
        labels = result.labels
        if labels.shape != (height, width):  # the Segmenter promises input size; be sure
            labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        color = self._lut[labels] if (wanted.color or wanted.overlay) else None
        out.labels = labels if wanted.labels else None
        out.color = color if wanted.color else None
        if wanted.overlay and color is not None:
            out.overlay = blend_overlay(left, color, overlay_alpha)
        if wanted.confidence or wanted.points:
            confidence = np.asarray(result.confidence, dtype=np.float32)
            if confidence.shape != (height, width):
                confidence = cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR)
            out.confidence = confidence if wanted.confidence else None
        if wanted.groups and self.groups is not None:
            out.groups = self.groups(labels)
        if wanted.points and disparity is not None and geometry is not None:
            palette = self._lut if self.points.color == "label" else None
            out.points = semantic_points(
                disparity, labels, confidence, left, geometry, self.points, palette
            )
        return out


class CalibrationGate(Generic[T]):
    """The latest left/right CameraInfo, and the frames that came before both.

    Up to ``capacity`` frames wait (oldest first) for calibration; a recording or a driver
    whose infos start after its images loses none of its first ``capacity`` frames.
    Thread-safe. ``infos`` is one dict for the gate's life (readers may keep a reference).
    """

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._lock = threading.Lock()
        self.capacity = capacity
        self.infos: dict[str, Any] = {}
        self.waiting: deque[T] = deque()

    @property
    def pending(self) -> T | None:
        """The newest frame waiting for calibration."""
        with self._lock:
            return self.waiting[-1] if self.waiting else None

    def missing(self) -> list[str]:
        """The sides whose CameraInfo has not come yet."""
        with self._lock:
            return sorted({"left", "right"} - set(self.infos))

    def add_info(self, side: str, info: Any) -> list[T]:
        """Store ``info`` (side ``left``/``right``); returns the held frames (oldest first)
        once both exist."""
        with self._lock:
            self.infos[side] = info
            released: list[T] = []
            if self.waiting and len(self.infos) == 2:
                released, self.waiting = list(self.waiting), deque()
            return released

    def hold(self, item: T) -> tuple[bool, T | None, list[str]]:
        """Hold ``item`` when a CameraInfo is missing.

        Returns (held, the oldest held item pushed out by it, the missing sides);
        (False, None, []) when calibrated.
        """
        with self._lock:
            if len(self.infos) == 2:
                return False, None, []
            self.waiting.append(item)
            replaced = self.waiting.popleft() if len(self.waiting) > self.capacity else None
            return True, replaced, sorted({"left", "right"} - set(self.infos))

    def pair(self) -> tuple[Any, Any]:
        with self._lock:
            return self.infos.get("left"), self.infos.get("right")


@dataclass
class FrameResult:
    """One frame's outputs, its decoded left image, and what the output DisparityImage
    carries: focal and baseline (None when unknown: no disparity message), range, step."""

    outputs: FrameOutputs
    left: np.ndarray
    focal: float | None = None
    baseline: float | None = None
    min_disparity: float = 0.0
    max_disparity: float = 0.0
    delta_d: float = OUTPUT_DELTA_D
    nonfinite: int = 0  # NaN/inf pixels of a received disparity, treated as invalid
    points_skipped: str = ""  # why a wanted point cloud could not be built
    num_disparities: int = 0  # compute mode: the SGBM range that fits the image (0: none)

    @property
    def disparity_complete(self) -> bool:
        """True when a DisparityImage can be built (pixels, focal and baseline known)."""
        return self.outputs.disparity is not None and bool(self.focal) and bool(self.baseline)


def _left_focal(info: Any, width: int, height: int) -> float | None:
    """fx (px) of a CameraInfo describing a ``width`` x ``height`` image, else None."""
    if info is None or (info.width, info.height) not in ((0, 0), (width, height)):
        return None
    fx = float(info.p[0]) or float(info.k[0])
    return fx if math.isfinite(fx) and fx > 0 else None


class FramePipeline:
    """The node's per-frame path from messages to outputs, free of rclpy.

    ``msgs`` is the synchronized set: (left,) in ``mono``, (left, right) in ``compute``,
    (left, DisparityImage) in ``topic`` mode; images may be Image or CompressedImage, from
    rclpy or rosbags. Compute mode calibrates from ``infos`` (left, right CameraInfo); topic
    mode resizes the received disparity to the left image with ``ReceivedDisparity.resized``
    (values, f and range scaled together).

    Raises (from ``run``):
        BadMessageError: A message cannot be used (its ``kind`` is for counting).
    """

    def __init__(self, processor: FrameProcessor, mode: str, topics: Sequence[str]) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {MODES}")
        self.processor = processor
        self.mode = mode
        self.topics = list(topics)

    def decode(self, msg: Any, topic: str, max_pixels: int) -> np.ndarray:
        from ladderseg_ros.ros import conversions

        if hasattr(msg, "format"):  # CompressedImage (Image has no ``format`` field)
            return conversions.compressed_to_rgb(msg, topic, max_pixels)
        return conversions.image_to_rgb(msg, topic, max_pixels)

    def run(
        self,
        msgs: Sequence[Any],
        wanted: Wanted,
        sgbm_num_disparities: int,
        max_image_pixels: int,
        overlay_alpha: float,
        infos: tuple[Any, Any] | None = None,
    ) -> FrameResult:
        from ladderseg_ros.ros import conversions
        from ladderseg_ros.ros.conversions import BadMessageError

        left = self.decode(msgs[0], self.topics[0], max_image_pixels)
        height, width = left.shape[:2]
        result = FrameResult(FrameOutputs(), left, max_disparity=float(sgbm_num_disparities))
        right = disparity = None
        cx_offset = 0.0
        if self.mode == "compute":
            right = self.decode(msgs[1], self.topics[1], max_image_pixels)
            if right.shape != left.shape:
                raise BadMessageError(
                    "size_mismatch",
                    f"left image {width}x{height} and right image "
                    f"{right.shape[1]}x{right.shape[0]} differ",
                )
            left_info, right_info = infos if infos is not None else (None, None)
            stereo = conversions.stereo_geometry(left_info, right_info, width, height)
            result.focal, result.baseline = stereo.focal, stereo.baseline
            cx_offset = stereo.cx_offset
            # the search range SGBM can run at this width, in true (corrected) disparity
            sgbm = self.processor.sgbm
            result.num_disparities = fitted_num_disparities(
                dataclasses.replace(sgbm, num_disparities=sgbm_num_disparities),
                width,
                math.floor(cx_offset),
            )
            result.max_disparity = max(0.0, result.num_disparities - cx_offset)
        elif self.mode == "topic":
            received = conversions.disparity_from_msg(msgs[1], self.topics[1], max_image_pixels)
            # at the left image's size, f and range scaled with the values (same depth)
            received = received.resized(width, height, self.topics[1])
            disparity = received.disparity
            result.focal, result.baseline = received.focal, received.baseline
            result.min_disparity = received.min_disparity
            result.max_disparity = received.max_disparity
            result.nonfinite = received.nonfinite
        else:  # mono: the left CameraInfo, when one of this size came, sets the scale
            result.focal = _left_focal(infos[0] if infos is not None else None, width, height)
        geometry = None
        if wanted.points:
            left_info = infos[0] if infos is not None else None
            geometry, result.points_skipped = points_geometry(
                left_info, result.focal, result.baseline, width, height
            )
        result.outputs = self.processor.process(
            left,
            right,
            disparity,
            result.baseline,
            wanted,
            overlay_alpha,
            geometry=geometry,
            focal_length=result.focal,
            cx_offset=cx_offset,
        )
        if not math.isfinite(result.max_disparity) and result.outputs.disparity is not None:
            valid = result.outputs.disparity > 0  # no range given: the largest valid value
            result.max_disparity = (
                float(result.outputs.disparity[valid].max()) if valid.any() else 0.0
            )
        return result


def points_geometry(
    left_info: Any, focal: float | None, baseline: float | None, width: int, height: int
) -> tuple[StereoGeometry | None, str]:
    """The point cloud's geometry from the left CameraInfo (fx, fy, cx, cy) and the
    disparity's focal and baseline; (None, why) when it cannot be had."""
    from ladderseg_ros.points import PointsError

    if left_info is None:
        return None, "no left/camera_info received yet (the cloud needs cx, cy)"
    if (left_info.width, left_info.height) not in ((0, 0), (width, height)):
        return None, (
            f"left/camera_info is for {left_info.width}x{left_info.height}, "
            f"image is {width}x{height}"
        )
    if not focal or not baseline:
        return None, "no disparity focal length and baseline"
    try:
        return StereoGeometry.from_projection(list(left_info.p), focal, baseline), ""
    except PointsError as exc:
        return None, f"left/camera_info: {exc}"
