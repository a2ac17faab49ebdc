"""The one converter between ROS messages and arrays, for rclpy and rosbags messages alike.

Decoding reads only the fields REP/sensor_msgs define, through the ``typing.Protocol``
classes below, so an rclpy message and a message deserialized by ``rosbags`` (no ROS
installation needed) go through the same code. Every check raises ``BadMessageError``
with a short ``kind`` (the node counts bad input by it) and a message naming the topic and
the value at fault. Images are viewed in place where the encoding allows it; rows padded
beyond ``width`` (``step`` > row size) are cut; ``rosbags-image`` 0.10.4 ignores
``step`` and returns shifted pixels, so it is not used.

Encoding builds messages through a ``MessageTypes`` factory: ``ros.conversions.RCLPY``
(rclpy's classes) or ``io.bags.ROSBAGS`` (rosbags' type store); the fields and rules are
written once, here.

Disparity (``stereo_msgs/DisparityImage``): Z = f T / d; "any disparity less than
min_disparity is invalid", and [min_disparity, max_disparity] is the range searched (a
value outside it could not have been found by that search). Inside the package 0 marks an
invalid pixel (``stereo.py``), so a received pixel is valid when it is finite, > 0 and in
[min_disparity, max_disparity] (an absent range: max_disparity <= min_disparity or not
finite means no upper bound); outgoing invalid pixels are written as
``stereo.INVALID_DISPARITY`` (-1, below min_disparity >= 0), as stereo_image_proc does.
``delta_d`` is the smallest increment of the values, a property of their source: 1/16 px
for OpenCV's SGBM, 1/256 px for Cityscapes/KITTI disparity PNGs; a resized disparity
scales it with the width. There is no default.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.frames.frame import NO_PROJECTION, FrameGeometry
from ladderseg_ros.stereo import (
    INVALID_DISPARITY,
    StereoError,
    check_baseline,
    check_focal,
    fit_disparity,
    network_read_size,
    same_aspect,
)

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DISPARITY_IMAGE = "stereo_msgs/msg/DisparityImage"
POINT_CLOUD = "sensor_msgs/msg/PointCloud2"

DEFAULT_MAX_PIXELS = 1 << 25

# encoding -> (channels, dtype) of what the package reads
_LAYOUT: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
    "32FC1": (1, np.dtype(np.float32)),
    **{f"bayer_{p}8": (1, np.dtype(np.uint8)) for p in ("rggb", "bggr", "gbrg", "grbg")},
    **{f"bayer_{p}16": (1, np.dtype(np.uint16)) for p in ("rggb", "bggr", "gbrg", "grbg")},
}
# OpenCV's conversion codes by name (OpenCV is imported when a picture is converted)
_TO_RGB = {
    "bgr8": "COLOR_BGR2RGB",
    "rgba8": "COLOR_RGBA2RGB",
    "bgra8": "COLOR_BGRA2RGB",
    "mono8": "COLOR_GRAY2RGB",
}
_BAYER_TO_RGB = {
    "rggb": "COLOR_BayerRGGB2RGB",
    "bggr": "COLOR_BayerBGGR2RGB",
    "gbrg": "COLOR_BayerGBRG2RGB",
    "grbg": "COLOR_BayerGRBG2RGB",
}
# what a camera image may be: converted to RGB for the network
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(
    e for e in _LAYOUT if e == "rgb8" or e in _TO_RGB or e.startswith("bayer_")
)
# what the package writes: encoding -> (ndim, dtype) of the array
_OUTPUT: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "mono8": (2, np.dtype(np.uint8)),
    "mono16": (2, np.dtype(np.uint16)),
    "32FC1": (2, np.dtype(np.float32)),
}


# ------------------------------------------------------------------ message protocols
class Time(Protocol):
    """``builtin_interfaces/Time``."""

    sec: int
    nanosec: int


class Header(Protocol):
    """``std_msgs/Header``."""

    stamp: Time
    frame_id: str


class Stamped(Protocol):
    """Any message with a header."""

    header: Header


class ImageMessage(Protocol):
    """``sensor_msgs/Image``: ``data`` holds ``step * height`` bytes."""

    header: Header
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: Any  # a byte buffer: array('B') from rclpy, uint8 ndarray from rosbags


class CompressedImageMessage(Protocol):
    """``sensor_msgs/CompressedImage``."""

    header: Header
    format: str
    data: Any


class RegionOfInterest(Protocol):
    """``sensor_msgs/RegionOfInterest``."""

    x_offset: int
    y_offset: int
    height: int
    width: int
    do_rectify: bool


class CameraInfoMessage(Protocol):
    """``sensor_msgs/CameraInfo`` (the fields a rectified image's geometry uses)."""

    header: Header
    height: int
    width: int
    k: Sequence[float]
    p: Sequence[float]
    binning_x: int
    binning_y: int
    roi: RegionOfInterest


class DisparityImageMessage(Protocol):
    """``stereo_msgs/DisparityImage``."""

    header: Header
    image: ImageMessage
    f: float
    t: float
    valid_window: RegionOfInterest
    min_disparity: float
    max_disparity: float
    delta_d: float


class PointFieldMessage(Protocol):
    """``sensor_msgs/PointField``."""

    name: str
    offset: int
    datatype: int
    count: int


class PointCloudMessage(Protocol):
    """``sensor_msgs/PointCloud2``."""

    header: Header
    height: int
    width: int
    fields: Sequence[PointFieldMessage]
    is_bigendian: bool
    point_step: int
    row_step: int
    data: Any
    is_dense: bool


class MessageTypes(Protocol):
    """Builds messages of one library: rclpy's classes or a rosbags type store."""

    def new(self, msgtype: str, **fields: Any) -> Any:  # noqa: ANN401 - a message of msgtype
        """A message of ``msgtype`` (``pkg/msg/Name``) with every field given."""
        ...

    def sequence(self, values: np.ndarray) -> object:
        """An unbounded array field (``uint8[]``, ``float64[]``) holding ``values``' elements."""
        ...


class BadMessageError(LadderSegError, ValueError):
    """A message that cannot be used; ``kind`` names the class of fault for counting."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class EncodingError(LadderSegError, ValueError):
    """An array does not fit the encoding asked for (names both)."""


# ------------------------------------------------------------------------- stamps
def header_ns(msg: Stamped) -> int:
    """A message's header stamp in integer nanoseconds (exact comparisons)."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header_seconds(msg: Stamped) -> float:
    """A message's header stamp in seconds."""
    stamp = msg.header.stamp
    return stamp.sec + stamp.nanosec * 1e-9


# ----------------------------------------------------------------------- decoding
def _check_size(topic: str, width: int, height: int, max_pixels: int) -> None:
    if width == 0 or height == 0:
        raise BadMessageError("zero_size", f"{topic}: image of zero size {width}x{height}")
    if width * height > max_pixels:
        raise BadMessageError(
            "huge_size",
            f"{topic}: image {width}x{height} exceeds max_image_pixels={max_pixels}",
        )


def image_view(
    msg: ImageMessage, topic: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """The pixels of ``msg`` as an (H, W[, C]) array, a view of the buffer where possible.

    Padded rows (``step`` > width * pixel size) are cut; multi-byte pixels come in native
    byte order (a big-endian message is copied).

    Raises:
        BadMessageError: Unsupported encoding, zero/huge size, or a buffer that does not
            hold ``step * height`` bytes with ``step >= width * pixel size``.
    """
    layout = _LAYOUT.get(msg.encoding)
    if layout is None:
        raise BadMessageError(
            "unsupported_encoding",
            f"{topic}: unsupported encoding {msg.encoding!r} (supported: {', '.join(_LAYOUT)})",
        )
    channels, dtype = layout
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    _check_size(topic, width, height, max_pixels)
    row = width * channels * dtype.itemsize
    if step < row or step % dtype.itemsize:
        raise BadMessageError(
            "bad_step", f"{topic}: step {step} is invalid for {width}px of {msg.encoding}"
        )
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size != step * height:
        raise BadMessageError(
            "bad_data_length",
            f"{topic}: data holds {buf.size} bytes, step*height = {step * height}",
        )
    order = ">" if msg.is_bigendian and dtype.itemsize > 1 else "<"
    rows = buf.view(dtype.newbyteorder(order)).reshape(height, step // dtype.itemsize)
    pixels = rows[:, : width * channels]
    if order == ">":
        pixels = pixels.astype(dtype)
    return pixels.reshape(height, width, channels) if channels > 1 else pixels


def image_to_rgb(
    msg: ImageMessage, topic: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode a camera Image into (H, W, 3) uint8 RGB; rgb8 is returned as a view.

    Raises:
        BadMessageError: An encoding not in ``SUPPORTED_ENCODINGS``; see ``image_view``.
    """
    if msg.encoding not in SUPPORTED_ENCODINGS:
        raise BadMessageError(
            "unsupported_encoding",
            f"{topic}: unsupported encoding {msg.encoding!r} "
            f"(supported: {', '.join(SUPPORTED_ENCODINGS)})",
        )
    return convert_pixels(image_view(msg, topic, max_pixels), msg.encoding)


def convert_pixels(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Convert validated pixels of a supported camera encoding to RGB uint8."""
    if encoding == "rgb8":
        return pixels
    import cv2

    if encoding.startswith("bayer_"):
        if pixels.dtype != np.uint8:
            pixels = (pixels >> 8).astype(np.uint8)
        code = getattr(cv2, _BAYER_TO_RGB[encoding[6:10]])
        return cv2.cvtColor(np.ascontiguousarray(pixels), code)
    return cv2.cvtColor(np.ascontiguousarray(pixels), getattr(cv2, _TO_RGB[encoding]))


def compressed_to_rgb(
    msg: CompressedImageMessage,
    topic: str = "image/compressed",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode a CompressedImage (JPEG/PNG/...) into (H, W, 3) uint8 RGB.

    ``data.images.decode_image``'s rules: the header's width x height is checked against
    ``max_pixels`` before anything is decoded, and the stored orientation is kept (an EXIF
    orientation tag is ignored, as image_transport's IMREAD_UNCHANGED decoding does).

    Raises:
        BadMessageError: A depth-compressed format, empty or undecodable data
            (``undecodable``), or a header declaring no or too many pixels (``zero_size``,
            ``huge_size``).
    """
    from ladderseg_ros.data.images import ImageDecodeError, decode_image

    fmt = msg.format.lower()
    if "compresseddepth" in fmt:
        raise BadMessageError(
            "unsupported_encoding", f"{topic}: compressedDepth format {msg.format!r}"
        )
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size == 0:
        raise BadMessageError("bad_data_length", f"{topic}: compressed image with no data")
    try:
        return decode_image(buf, topic, max_pixels)
    except ImageDecodeError as exc:
        raise BadMessageError(exc.kind, f"{exc} (format {msg.format!r})") from None


def camera_image_to_rgb(
    msg: ImageMessage | CompressedImageMessage,
    topic: str = "image",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """An Image or a CompressedImage (which has a ``format`` field) as (H, W, 3) uint8 RGB.

    Raises:
        BadMessageError: See ``image_to_rgb`` and ``compressed_to_rgb``.
    """
    if hasattr(msg, "format"):
        return compressed_to_rgb(msg, topic, max_pixels)  # type: ignore[arg-type]
    return image_to_rgb(msg, topic, max_pixels)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ReceivedDisparity:
    """A DisparityImage as arrays: pixels (0 = invalid), focal ``f`` (px), baseline ``t`` (m).

    ``min_disparity``/``max_disparity`` are the message's search range (``max_disparity`` is
    ``inf`` when the message gives none) and ``delta_d`` its step; all of ``disparity``,
    ``focal``, the range and the step are in pixels of the received image, so ``resized``
    scales them together.
    """

    disparity: np.ndarray
    focal: float
    baseline: float
    nonfinite: int  # NaN/inf pixels that were set to 0
    min_disparity: float = 0.0
    max_disparity: float = math.inf
    delta_d: float = 0.0

    def resized(self, width: int, height: int, topic: str = "disparity") -> ReceivedDisparity:
        """The same measurement at ``width`` x ``height``.

        Values, f, range and step are scaled by the width ratio (depth = f * t / d is
        unchanged).

        Raises:
            BadMessageError: kind ``disparity_size``: the map has another aspect than
                ``width`` x ``height`` (it would be stretched).
        """
        if self.disparity.shape == (height, width):
            return self
        ratio = width / self.disparity.shape[1]
        try:
            disparity = fit_disparity(self.disparity, (width, height), topic)
        except StereoError as exc:
            raise BadMessageError("disparity_size", str(exc)) from exc
        return dataclasses.replace(
            self,
            disparity=disparity,
            focal=self.focal * ratio,
            min_disparity=self.min_disparity * ratio,
            max_disparity=self.max_disparity * ratio,
            delta_d=self.delta_d * ratio,
        )

    def on_image(
        self, width: int, height: int, topic: str = "disparity", aspect_checked: bool = False
    ) -> ReceivedDisparity:
        """The measurement for a ``width`` x ``height`` image, resized only where it must be.

        A map smaller than the image with its aspect (a binned or downsampled matcher's) keeps
        its pixels -- the network resizes it to its own size, and the outputs that need it
        at the image's size resize it then (``FrameProcessor``) -- while f, range and step
        are scaled to the image's pixels; a map of the image's size is kept, a larger one is
        ``resized``. ``aspect_checked``: the map was sampled at the network's size after its
        aspect was checked against the image (``disparity_from_msg``); its own aspect is then
        the network's.

        Raises:
            BadMessageError: kind ``disparity_size``: another aspect than the image's.
        """
        map_height, map_width = self.disparity.shape
        if map_width >= width or map_height >= height:
            return self.resized(width, height, topic)
        if not aspect_checked and not same_aspect((map_width, map_height), (width, height)):
            raise BadMessageError(
                "disparity_size",
                f"{topic}: disparity {map_width}x{map_height} does not have the aspect of the "
                f"image {width}x{height} (not a scaled copy: refusing to stretch it)",
            )
        ratio = width / map_width
        return dataclasses.replace(
            self,
            focal=self.focal * ratio,
            min_disparity=self.min_disparity * ratio,
            max_disparity=self.max_disparity * ratio,
            delta_d=self.delta_d * ratio,
        )


def disparity_from_msg(
    msg: DisparityImageMessage,
    topic: str = "disparity",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sample: tuple[int, int] | None = None,
    image_size: tuple[int, int] | None = None,
) -> ReceivedDisparity:
    """Disparity in pixels with 0 = invalid, plus the message's f, T, range and step.

    A pixel is valid when finite, > 0 and inside [min_disparity, max_disparity] (see the
    module docstring; stereo_image_proc marks invalid pixels with min_disparity - 1, NaN
    or inf).

    ``sample`` = (width, height) smaller than the map: only the pixels a nearest resize to
    that size reads are copied and checked, and the measurement comes at that size (values,
    f, range and step scaled with it), as when only the network reads the disparity (it
    resizes it to its own size, nearest). The map's aspect must then be that of
    ``image_size`` = (width, height), the image it belongs to (``disparity_size``);
    ``sample`` may miss it by the network's rounding to its stride.

    Raises:
        BadMessageError: The image is not 32FC1, its buffer is malformed, or f/t are
            non-positive, non-finite or implausible (``bad_calibration``: f a field of view
            over 170 degrees or above 1e6 px, T outside [1 mm, 100 m]; ``stereo.check_focal``,
            ``check_baseline``).
    """
    image = msg.image
    if image.encoding != "32FC1":
        raise BadMessageError(
            "unsupported_encoding",
            f"{topic}: disparity encoding {image.encoding!r}, expected '32FC1'",
        )
    f, t = float(msg.f), float(msg.t)
    disp = image_view(image, topic, max_pixels)
    ratio = 1.0
    map_size = (disp.shape[1], disp.shape[0])
    if sample is not None and network_read_size(map_size, sample) != map_size:
        if not same_aspect((disp.shape[1], disp.shape[0]), image_size or sample):
            raise BadMessageError(
                "disparity_size",
                f"{topic}: disparity {disp.shape[1]}x{disp.shape[0]} does not have the aspect "
                f"of the image (not a scaled copy: refusing to stretch it)",
            )
        import cv2

        ratio = sample[0] / disp.shape[1]
        disp = cv2.resize(np.ascontiguousarray(disp), sample, interpolation=cv2.INTER_NEAREST)
    else:
        disp = disp.astype(np.float32)  # writable copy
    if not (math.isfinite(f) and f > 0 and math.isfinite(t) and t > 0):
        raise BadMessageError("bad_calibration", f"{topic}: focal f={f} or baseline t={t}")
    try:
        check_focal(f, disp.shape[1], "focal f")
        check_baseline(t, "baseline T")
    except StereoError as exc:
        raise BadMessageError("bad_calibration", f"{topic}: {exc}") from None
    lo = max(float(msg.min_disparity), 0.0) if math.isfinite(msg.min_disparity) else 0.0
    hi = float(msg.max_disparity) if math.isfinite(msg.max_disparity) else math.inf
    if hi <= lo:
        hi = math.inf
    finite = np.isfinite(disp)
    with np.errstate(invalid="ignore"):
        invalid = ~finite | (disp <= 0) | (disp < lo) | (disp > hi)
    disp[invalid] = 0.0
    nonfinite = int(finite.size - np.count_nonzero(finite))
    if ratio != 1.0:
        disp *= np.float32(ratio)
    return ReceivedDisparity(
        disp, f * ratio, t, nonfinite, lo * ratio, hi * ratio, float(msg.delta_d) * ratio
    )


# relative tolerance for values a rectified pair must share (fx, fy, cy), calibration files
# print them rounded
_SHARED_TOLERANCE = 1e-4
# largest vertical or depth offset between the cameras, as a fraction of the baseline
_MAX_OFF_AXIS = 0.02


def _received_projection(info: CameraInfoMessage, side: str, width: int, height: int) -> np.ndarray:
    """``info``'s P for the image as received, checked against the image size.

    Region of interest and binning are applied as image_geometry's PinholeCameraModel does.
    """
    p = np.asarray(info.p, dtype=np.float64).reshape(3, 4).copy()
    if not np.isfinite(p).all():
        raise BadMessageError("bad_camera_info", f"{side}/camera_info: P has NaN/inf entries")
    bx, by = max(int(info.binning_x), 1), max(int(info.binning_y), 1)
    full_w, full_h = int(info.width), int(info.height)
    roi = info.roi
    if roi.width and roi.height:  # the image is a crop of the calibrated one
        p[0, 2] -= roi.x_offset
        p[1, 2] -= roi.y_offset
        full_w, full_h = int(roi.width), int(roi.height)
    if (full_w, full_h) != (0, 0):
        expected = (full_w // bx, full_h // by)
        if expected != (width, height):
            shown = f"{info.width}x{info.height}"
            if roi.width and roi.height:
                shown += f", roi {roi.width}x{roi.height}+{roi.x_offset}+{roi.y_offset}"
            if (bx, by) != (1, 1):
                shown += f", binning {bx}x{by}"
            if shown != f"{expected[0]}x{expected[1]}":
                shown += f" = {expected[0]}x{expected[1]}"
            raise BadMessageError(
                "camera_info_size",
                f"{side}/camera_info is for {shown}, image is {width}x{height}",
            )
    p[0] /= bx  # fx, cx, Tx in binned pixels
    p[1] /= by
    if not p[0, 0] > 0 or not p[1, 1] > 0:  # all zeros: an uncalibrated camera
        raise BadMessageError(
            "bad_camera_info",
            f"{side}/camera_info has P[0,0] = fx = {p[0, 0]}, P[1,1] = fy = {p[1, 1]} "
            "(not a calibrated, rectified camera)",
        )
    # np.allclose's test (rtol 1e-5, atol 1e-8) without its per-frame cost (0.1 ms)
    p20, p21, p22 = p[2, :3].tolist()
    if not (abs(p20) <= 1e-8 and abs(p21) <= 1e-8 and abs(p22 - 1.0) <= 1e-8 + 1e-5):
        raise BadMessageError(
            "bad_camera_info",
            f"{side}/camera_info: P's last row is {p[2].tolist()}, a rectified camera has "
            "[0, 0, 1, Tz]",
        )
    fx = float(p[0, 0])
    try:
        check_focal(fx, width, "fx")
        check_focal(p[1, 1], height, "fy")
    except StereoError as exc:
        raise BadMessageError("bad_camera_info", f"{side}/camera_info: {exc}") from None
    return p


def stereo_geometry(
    left: CameraInfoMessage | None, right: CameraInfoMessage | None, width: int, height: int
) -> FrameGeometry:
    """Focal length, baseline and principal-point offset of a rectified, horizontal pair.

    Every field of CameraInfo that changes geometry is honoured or rejected: P (fx, fy,
    cx, cy, Tx, Ty) is used; ``roi`` and ``binning_x/y`` are applied to P as
    image_geometry does; ``width``/``height`` must describe the received image (0x0 = not
    given); D, K, R and ``distortion_model`` describe the raw camera and do not apply to
    rectified images (stereo_image_proc uses P alone, so do we). A pair whose fx, fy or cy
    differ is not rectified (rows or scale do not correspond) and one with a vertical
    (Ty) or depth (P[2,3]) offset is not horizontal: both are rejected. Differing cx
    (rectification with alpha) is honoured through ``cx_offset``. baseline =
    (Tx_left - Tx_right) / fx with Tx = P[0, 3]; KITTI's left P has a nonzero Tx. The
    left P, with the same binning and ROI applied, is the cloud's projection
    (``left_projection``).

    Raises:
        BadMessageError: An info is missing (``missing_camera_info``), describes another
            image size (``camera_info_size``) or geometry that cannot be used
            (``bad_camera_info``: fx, fy or the baseline implausible, see
            ``stereo.check_focal`` and ``check_baseline``); the message names the field.
    """
    from ladderseg_ros.stereo import baseline_from_projections

    if left is None or right is None:
        side = "left" if left is None else "right"
        raise BadMessageError("missing_camera_info", f"no {side}/camera_info received yet")
    p_left = _received_projection(left, "left", width, height)
    p_right = _received_projection(right, "right", width, height)
    for name, (row, col) in (("fx", (0, 0)), ("fy", (1, 1)), ("cy", (1, 2))):
        a, b = p_left[row, col], p_right[row, col]
        if abs(a - b) > _SHARED_TOLERANCE * max(abs(a), abs(b), 1.0):
            raise BadMessageError(
                "bad_camera_info",
                f"camera_info: left {name} {a:.6g} and right {name} {b:.6g} differ: the "
                "images are not a rectified pair",
            )
    try:
        baseline = float(baseline_from_projections(p_left, p_right))
    except LadderSegError as exc:
        raise BadMessageError("bad_camera_info", f"camera_info: {exc}") from exc
    # offsets of the right camera across and along the optical axis, in metres; KITTI's
    # P_rect_02/03 carry a few millimetres of each, a vertical rig carries all its baseline
    off_y = (p_left[1, 3] - p_right[1, 3]) / p_left[1, 1]
    off_z = p_left[2, 3] - p_right[2, 3]
    if max(abs(off_y), abs(off_z)) > _MAX_OFF_AXIS * baseline:
        raise BadMessageError(
            "bad_camera_info",
            f"camera_info: the right camera is {off_y:.4g} m below and {off_z:.4g} m behind "
            f"the left (baseline {baseline:.4g} m): only horizontal pairs are supported",
        )
    projection, missing = left_projection(left, width, height)
    return FrameGeometry(
        float(p_left[0, 0]),
        baseline,
        float(p_left[0, 2] - p_right[0, 2]),
        projection,
        missing,
    )


def stereo_calibration(
    left: CameraInfoMessage | None, right: CameraInfoMessage | None, width: int, height: int
) -> tuple[float, float]:
    """Focal length fx (px) and baseline (m) of a rectified pair (see ``stereo_geometry``).

    Raises:
        BadMessageError: See ``stereo_geometry``.
    """
    geometry = stereo_geometry(left, right, width, height)
    assert geometry.focal is not None
    assert geometry.baseline is not None
    return geometry.focal, geometry.baseline


def left_projection(
    info: CameraInfoMessage | None, width: int, height: int
) -> tuple[tuple[float, ...] | None, str]:
    """The left P (12 values) for the image as received and "", or (None, why).

    Region of interest and binning are applied as for the stereo pair (image_geometry's
    rules, ``_received_projection``): a 2x2-binned or cropped image gets the P of its own
    pixels. An info of size 0x0 describes any image. An absent info, one of another size, a
    P with non-finite values, a last row other than [0, 0, 1] or an implausible fx or fy
    (``stereo.check_focal``) gives None and the reason, in one line.
    """
    if info is None:
        return None, NO_PROJECTION
    if len(info.p) != 12:
        return None, f"left/camera_info: P has {len(info.p)} values, not 12"
    try:
        p = _received_projection(info, "left", width, height)
    except BadMessageError as exc:
        return None, str(exc)
    return tuple(p.reshape(-1).tolist()), ""


def left_focal(info: CameraInfoMessage | None, width: int, height: int) -> float | None:
    """Fx (px) of a CameraInfo describing a ``width`` x ``height`` image, else None.

    Binning and region of interest are applied as for the stereo pair
    (``_received_projection``, image_geometry's rules); an info of another size, or one
    with neither P nor K (uncalibrated), gives None: the trained width sets the scale.

    Raises:
        BadMessageError: kind ``bad_camera_info``: an implausible fx (``stereo.check_focal``:
            e.g. P = identity, fx 1 px), which would size the network without bound.
    """
    if info is None:
        return None
    if float(info.p[0]) == 0.0:
        fx = float(info.k[0])  # only the raw camera's K: no binning or crop to undo
        if fx == 0.0 or (info.width, info.height) not in ((0, 0), (width, height)):
            return None
        try:
            return check_focal(fx, width, "fx")
        except StereoError as exc:
            raise BadMessageError("bad_camera_info", f"left/camera_info: {exc}") from None
    try:
        return float(_received_projection(info, "left", width, height)[0, 0])
    except BadMessageError as exc:
        if exc.kind == "camera_info_size":
            return None
        raise


# ----------------------------------------------------------------------- encoding
def header_msg(types: MessageTypes, stamp: int, frame_id: str) -> Header:
    """A ``std_msgs/Header`` of ``stamp`` (integer ns) and ``frame_id``."""
    time = types.new(
        "builtin_interfaces/msg/Time", sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000
    )
    return types.new("std_msgs/msg/Header", stamp=time, frame_id=frame_id)


def image_msg(
    types: MessageTypes, pixels: np.ndarray, encoding: str, header: Header
) -> ImageMessage:
    """Wrap an array as an Image (one copy into the message buffer, rows unpadded).

    ``encoding`` must match the array: mono8 (H, W) uint8, mono16 (H, W) uint16, rgb8/bgr8
    (H, W, 3) uint8, 32FC1 (H, W) float32; written little-endian.

    Raises:
        EncodingError: An encoding not written here, or an array that does not fit it.
    """
    if encoding not in _OUTPUT:
        raise EncodingError(
            f"image encoding {encoding!r} not supported; use one of {list(_OUTPUT)}"
        )
    ndim, dtype = _OUTPUT[encoding]
    pixels = np.asarray(pixels)
    if pixels.ndim != ndim or (ndim == 3 and pixels.shape[2] != 3) or pixels.dtype != dtype:
        raise EncodingError(
            f"{encoding} image needs {ndim}-D {dtype} data"
            f"{' with 3 channels' if ndim == 3 else ''}, got {pixels.dtype}{pixels.shape}"
        )
    pixels = np.ascontiguousarray(pixels, dtype=dtype.newbyteorder("<"))
    height, width = pixels.shape[:2]
    return types.new(
        IMAGE,
        header=header,
        height=int(height),
        width=int(width),
        encoding=encoding,
        is_bigendian=0,
        step=int(pixels.strides[0]),
        data=types.sequence(pixels.reshape(-1).view(np.uint8)),
    )


def _roi(types: MessageTypes, width: int = 0, height: int = 0) -> RegionOfInterest:
    return types.new(
        "sensor_msgs/msg/RegionOfInterest",
        x_offset=0,
        y_offset=0,
        height=height,
        width=width,
        do_rectify=False,
    )


def disparity_msg(
    types: MessageTypes,
    disparity: np.ndarray,
    focal: float,
    baseline: float,
    header: Header,
    *,
    delta_d: float,
    min_disparity: float = 0.0,
    max_disparity: float | None = None,
) -> DisparityImageMessage:
    """Wrap a float32 (H, W) disparity (px, 0 = invalid) as a DisparityImage.

    Invalid pixels go out as ``INVALID_DISPARITY`` (below ``min_disparity``, the message's
    definition of invalid). ``max_disparity`` None or non-finite means the largest valid
    value; ``delta_d`` is the values' step (see the module docstring: no default).

    Raises:
        EncodingError: ``disparity`` is not 2-D.
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    if disparity.ndim != 2:
        raise EncodingError(f"disparity must be (H,W), got shape {disparity.shape}")
    valid = np.isfinite(disparity) & (disparity > 0)
    out = np.where(valid, disparity, np.float32(INVALID_DISPARITY)).astype(np.float32)
    if max_disparity is None or not math.isfinite(max_disparity):
        max_disparity = float(disparity[valid].max()) if valid.any() else 0.0
    height, width = disparity.shape
    return types.new(
        DISPARITY_IMAGE,
        header=header,
        image=image_msg(types, out, "32FC1", header),
        f=float(focal),
        t=float(baseline),
        valid_window=_roi(types, width, height),
        min_disparity=float(min_disparity),
        max_disparity=float(max_disparity),
        delta_d=float(delta_d),
    )


def camera_info_msg(
    types: MessageTypes, projection: np.ndarray, width: int, height: int, header: Header
) -> CameraInfoMessage:
    """A CameraInfo of a rectified camera: K from P, R = I, no distortion.

    ``projection`` (3x4) is kept as given (KITTI's left P keeps its nonzero Tx).

    Raises:
        EncodingError: P has non-finite entries or fx, fy <= 0.
    """
    p = np.asarray(projection, dtype=np.float64).reshape(3, 4)
    if not (np.all(np.isfinite(p)) and p[0, 0] > 0 and p[1, 1] > 0):
        raise EncodingError(
            f"camera {header.frame_id}: projection matrix needs finite fx, fy > 0, "
            f"got P = {p.reshape(-1).tolist()}"
        )
    return types.new(
        CAMERA_INFO,
        header=header,
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=types.sequence(np.zeros(5, dtype=np.float64)),
        k=np.ascontiguousarray(p[:, :3]).reshape(-1),
        r=np.eye(3, dtype=np.float64).reshape(-1),
        p=p.reshape(-1).copy(),
        binning_x=0,
        binning_y=0,
        roi=_roi(types),
    )


def pointcloud_msg(types: MessageTypes, points: np.ndarray, header: Header) -> PointCloudMessage:
    """A PointCloud2 of a (rows, cols) ``points.POINT_DTYPE`` array (organized when rows > 1).

    ``is_dense`` is False when any z is NaN (invalid points kept in the grid).

    Raises:
        EncodingError: ``points`` is not a 2-D ``POINT_DTYPE`` array.
    """
    from ladderseg_ros.points import POINT_DTYPE, POINT_FIELDS, POINT_STEP

    if points.dtype != POINT_DTYPE or points.ndim != 2:
        raise EncodingError(f"points must be 2-D {POINT_DTYPE}, got {points.dtype}{points.shape}")
    points = np.ascontiguousarray(points)
    fields = [
        types.new("sensor_msgs/msg/PointField", name=n, offset=o, datatype=d, count=c)
        for n, o, d, c in POINT_FIELDS
    ]
    height, width = points.shape
    return types.new(
        POINT_CLOUD,
        header=header,
        height=int(height),
        width=int(width),
        fields=fields,
        is_bigendian=False,
        point_step=POINT_STEP,
        row_step=POINT_STEP * int(width),
        data=types.sequence(points.reshape(-1).view(np.uint8)),
        is_dense=bool(not np.isnan(points["z"]).any()),
    )


# sensor_msgs/PointField datatype -> NumPy type (byte order added when read)
_POINT_FIELD_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


def pointcloud_array(msg: PointCloudMessage, topic: str = "points") -> np.ndarray:
    """A PointCloud2 with this package's fields as a (height, width) ``POINT_DTYPE`` array.

    Fields are found by name at any offset, as PCL and sensor_msgs_py read them: x, y, z,
    rgb and confidence float32, label any unsigned integer (clouds written before label
    became uint32 had a uint8 one). A cloud in ``points.POINT_FIELDS``' layout is a view.

    Raises:
        BadMessageError: ``bad_fields``: a field is missing, of another type, overlaps
            another or lies beyond ``point_step``; ``bad_data_length``: the buffer does not
            hold ``row_step * height`` bytes with ``row_step >= width * point_step``.
    """
    from ladderseg_ros.points import POINT_DTYPE, POINT_FIELDS, POINT_STEP

    order = ">" if msg.is_bigendian else "<"
    found = {f.name: f for f in msg.fields}
    names, formats, offsets, spans = [], [], [], []
    for name, _, datatype, _ in POINT_FIELDS:
        field = found.get(name)
        kind = _POINT_FIELD_TYPES.get(field.datatype, "") if field is not None else ""
        wanted = kind == "f4" if datatype == 7 else kind[:1] == "u"
        if field is None or not wanted or field.count != 1:
            raise BadMessageError(
                "bad_fields",
                f"{topic}: not a ladderseg point cloud (field {name!r}: "
                f"{'missing' if field is None else f'datatype {field.datatype} x{field.count}'})",
            )
        size = int(kind[1])
        names.append(name)
        formats.append(order + kind)
        offsets.append(int(field.offset))
        spans.append((int(field.offset), int(field.offset) + size))
    step, width, height = int(msg.point_step), int(msg.width), int(msg.height)
    spans.sort()
    overlap = any(a[1] > b[0] for a, b in itertools.pairwise(spans))
    if spans[0][0] < 0 or spans[-1][1] > step or overlap:
        raise BadMessageError(
            "bad_fields", f"{topic}: fields overlap or lie beyond point_step {step}: {spans}"
        )
    row_step = int(msg.row_step)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if row_step < width * step or data.size != row_step * height:
        raise BadMessageError(
            "bad_data_length",
            f"{topic}: {data.size} bytes for {width}x{height} points of {step} bytes "
            f"(row_step {row_step})",
        )
    rows = data.reshape(height, row_step)[:, : width * step]
    layout = tuple((f.name, int(f.offset), int(f.datatype), int(f.count)) for f in msg.fields)
    if order == "<" and layout == POINT_FIELDS and (step, row_step) == (POINT_STEP, width * step):
        return data.view(POINT_DTYPE).reshape(height, width)
    read = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})
    source = np.ascontiguousarray(rows).view(read).reshape(height, width)
    points = np.empty((height, width), POINT_DTYPE)
    for name in names:
        points[name] = source[name]
    return points
