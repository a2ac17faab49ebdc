"""``StereoFrame`` (what one frame brings) and ``FrameResult`` (what processing it gives).

Images are numpy arrays at the left image's size, disparity in pixels of that size with
0 = invalid (``stereo.py``'s convention), depth Z = focal * baseline / disparity
(``stereo_msgs/DisparityImage``'s Z = f T / d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ladderseg_ros.errors import LadderSegError

# OpenCV's StereoSGBM returns disparity in fixed point with 4 fractional bits: its smallest
# increment (a DisparityImage's ``delta_d``) is 1/16 px.
SGBM_DELTA_D = 1.0 / 16.0
NO_PROJECTION = "no left/camera_info received yet (the cloud needs cx, cy)"


class FrameError(LadderSegError, ValueError):
    """A frame's arrays do not fit together (shapes, dtypes); names the array at fault."""


@dataclass(frozen=True)
class FrameGeometry:
    """What the calibration says about the frame's images, in pixels of the left image.

    Attributes:
        focal: fx (px) of the disparity (Z = focal * baseline / d); None when unknown.
        baseline: Distance between the camera centres (m); None when unknown.
        cx_offset: cx_left - cx_right (px): a matcher measures x_left - x_right, the
            disparity is that minus ``cx_offset`` (stereo_msgs/DisparityImage).
        projection: The left camera's 3x4 projection P (row major, as CameraInfo.p) when
            it describes this image: the point cloud's fx, fy, cx, cy.
        projection_missing: Why ``projection`` is None (said when a cloud is wanted).
        focal_source: Where ``focal`` came from (``left/camera_info``, ``disparity f``),
            for the line that says what scale it set.
    """

    focal: float | None = None
    baseline: float | None = None
    cx_offset: float = 0.0
    projection: tuple[float, ...] | None = None
    projection_missing: str = NO_PROJECTION
    focal_source: str = "calibration"


@dataclass(frozen=True)
class StereoFrame:
    """One rectified stereo frame as arrays: what ``FrameProcessor.process`` takes.

    Attributes:
        left: (H, W, 3) uint8 RGB, the rectified left image; every output has its size.
        right: (H, W, 3) uint8 RGB rectified right image (disparity computed by SGBM), or None.
        disparity: (h, w) float32 received disparity (0 = invalid) in pixels of its own width,
            at the left image's size or a smaller one of its aspect (the outputs that need it
            at the left's size resize it), or None.
        geometry: Focal length, baseline, principal-point offset, left projection.
        min_disparity: Low end of the received disparity's search range (px of the left image).
        max_disparity: High end of that range (px of the left image); ``inf`` when not given.
        delta_d: Smallest disparity increment of the received disparity (px of the left
            image).
        stamp: Acquisition time of the left image, integer nanoseconds.
        frame_id: The left camera's optical frame.

    Raises:
        FrameError: ``left`` is not (H, W, 3) uint8, or ``right``/``disparity`` have
            another size than ``left``.
    """

    left: np.ndarray
    right: np.ndarray | None = None
    disparity: np.ndarray | None = None
    geometry: FrameGeometry = field(default_factory=FrameGeometry)
    min_disparity: float = 0.0
    max_disparity: float = math.inf
    delta_d: float = SGBM_DELTA_D
    stamp: int = 0
    frame_id: str = ""

    def __post_init__(self) -> None:
        left = self.left
        if left.ndim != 3 or left.shape[2] != 3 or left.dtype != np.uint8:
            raise FrameError(f"left image must be (H, W, 3) uint8, got {left.dtype}{left.shape}")
        if self.right is not None and self.right.shape != left.shape:
            raise FrameError(
                f"left image {self.width}x{self.height} and right image "
                f"{self.right.shape[1]}x{self.right.shape[0]} differ"
            )
        if self.disparity is not None and (
            self.disparity.ndim != 2
            or self.disparity.shape[0] > left.shape[0]
            or self.disparity.shape[1] > left.shape[1]
        ):
            raise FrameError(
                f"disparity {self.disparity.shape} is larger than the left image {left.shape[:2]}"
            )

    @property
    def width(self) -> int:
        """Width of the left image (px)."""
        return int(self.left.shape[1])

    @property
    def height(self) -> int:
        """Height of the left image (px)."""
        return int(self.left.shape[0])


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
        """True when any wanted output needs the network."""
        outputs = (self.labels, self.color, self.overlay, self.confidence, self.groups)
        return any(outputs) or self.points


@dataclass
class FrameOutputs:
    """Output arrays at the left image's size; None where not requested or not available.

    Attributes:
        labels: (H, W) uint8 class index (trainId).
        color: (H, W, 3) uint8 RGB palette colours.
        overlay: (H, W, 3) uint8 RGB image blended with the colours.
        confidence: (H, W) float32 probability of the chosen class.
        disparity: (H, W) float32 px, 0 = invalid.
        groups: (H, W) uint8 class-group ids.
        points: ``ladderseg_ros.points.POINT_DTYPE`` cloud (rows, cols).
    """

    labels: np.ndarray | None = None
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None
    confidence: np.ndarray | None = None
    disparity: np.ndarray | None = None
    groups: np.ndarray | None = None
    points: np.ndarray | None = None


@dataclass(frozen=True)
class FrameNote:
    """Something a frame's processing wants said: ``kind`` for counting, ``text`` to log.

    ``bad`` notes are counted as bad input by the node; the others are only logged (warnings,
    throttled), but ``info`` notes, which their source says once, at INFO each time.
    """

    kind: str
    text: str
    bad: bool = True
    info: bool = False


@dataclass
class FrameResult:
    """One frame's outputs and what the output DisparityImage carries.

    Attributes:
        frame: The frame processed.
        outputs: The output arrays.
        focal: fx (px) of the output disparity, None when unknown.
        baseline: Baseline (m), None when unknown.
        min_disparity: Low end of the output disparity's range (px).
        max_disparity: High end (px): SGBM's search range, a received one, or the largest
            valid value when none was given.
        delta_d: Smallest increment of the output disparity (px).
        num_disparities: Compute mode: the SGBM range that fits the image (0: none).
        notes: What the processing wants said (a cloud not built, a narrowed range...).
    """

    frame: StereoFrame
    outputs: FrameOutputs
    focal: float | None = None
    baseline: float | None = None
    min_disparity: float = 0.0
    max_disparity: float = 0.0
    delta_d: float = SGBM_DELTA_D
    num_disparities: int = 0
    notes: list[FrameNote] = field(default_factory=list)

    @property
    def disparity_complete(self) -> bool:
        """True when a DisparityImage can be built (pixels, focal and baseline known)."""
        return self.outputs.disparity is not None and bool(self.focal) and bool(self.baseline)
