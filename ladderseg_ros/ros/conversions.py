"""sensor_msgs/stereo_msgs messages <-> numpy arrays, validated before anything is read.

Every check raises ``BadMessageError`` with a short ``kind`` (used to count bad input in the
node's diagnostics) and a message naming the topic and the value at fault. Images are viewed
in place (``np.frombuffer`` on the message buffer) where the encoding allows it; cv_bridge is
used for the pixel conversion when it is importable, after the same validation.
"""

from __future__ import annotations

import array
import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.stereo import INVALID_DISPARITY

try:  # pragma: no cover - depends on the ROS installation
    from cv_bridge import CvBridge

    _BRIDGE: CvBridge | None = CvBridge()
except ImportError:
    _BRIDGE = None

HAVE_CV_BRIDGE = _BRIDGE is not None

# encoding -> (channels, bytes per channel)
_LAYOUT: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "bayer_rggb8": (1, 1),
    "bayer_bggr8": (1, 1),
    "bayer_gbrg8": (1, 1),
    "bayer_grbg8": (1, 1),
    "bayer_rggb16": (1, 2),
    "bayer_bggr16": (1, 2),
    "bayer_gbrg16": (1, 2),
    "bayer_grbg16": (1, 2),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_LAYOUT)

_BAYER_TO_RGB = {
    "rggb": cv2.COLOR_BayerRGGB2RGB,
    "bggr": cv2.COLOR_BayerBGGR2RGB,
    "gbrg": cv2.COLOR_BayerGBRG2RGB,
    "grbg": cv2.COLOR_BayerGRBG2RGB,
}
_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}


class BadMessageError(LadderSegError, ValueError):
    """A message that cannot be used; ``kind`` names the class of fault for counting."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _check_size(topic: str, width: int, height: int, max_pixels: int) -> None:
    if width == 0 or height == 0:
        raise BadMessageError("zero_size", f"{topic}: image of zero size {width}x{height}")
    if width * height > max_pixels:
        raise BadMessageError(
            "huge_size",
            f"{topic}: image {width}x{height} exceeds max_image_pixels={max_pixels}",
        )


def image_view(msg: Image, topic: str = "image", max_pixels: int = 1 << 25) -> np.ndarray:
    """The pixels of ``msg`` as an (H, W[, C]) array viewing the message buffer (no copy).

    Raises:
        BadMessageError: Unsupported encoding, zero/huge size, or a buffer that does not
            hold ``step * height`` bytes with ``step >= width * pixel size``.
    """
    layout = _LAYOUT.get(msg.encoding)
    if layout is None:
        raise BadMessageError(
            "unsupported_encoding",
            f"{topic}: unsupported encoding {msg.encoding!r} "
            f"(supported: {', '.join(SUPPORTED_ENCODINGS)})",
        )
    channels, depth = layout
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    _check_size(topic, width, height, max_pixels)
    row = width * channels * depth
    if step < row or step % depth:
        raise BadMessageError(
            "bad_step", f"{topic}: step {step} is invalid for {width}px of {msg.encoding}"
        )
    if len(msg.data) != step * height:
        raise BadMessageError(
            "bad_data_length",
            f"{topic}: data holds {len(msg.data)} bytes, step*height = {step * height}",
        )
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if depth == 2:
        dtype = np.dtype(">u2" if msg.is_bigendian else "<u2")
        rows = buf.view(dtype).reshape(height, step // 2)[:, : width * channels]
    else:
        rows = buf.reshape(height, step)[:, :row]
    return rows.reshape(height, width, channels) if channels > 1 else rows


def image_to_rgb(msg: Image, topic: str = "image", max_pixels: int = 1 << 25) -> np.ndarray:
    """Decode an Image into (H, W, 3) uint8 RGB; rgb8 is returned as a view of the message.

    Raises:
        BadMessageError: See ``image_view``.
    """
    pixels = image_view(msg, topic, max_pixels)
    encoding = msg.encoding
    if encoding == "rgb8":
        return pixels
    if _BRIDGE is not None:  # pragma: no cover - cv_bridge is not installed here
        return np.asarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    return convert_pixels(pixels, encoding)


def convert_pixels(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Convert validated pixels of a supported encoding to contiguous RGB uint8."""
    if encoding == "rgb8":
        return pixels
    if encoding.startswith("bayer_"):
        if pixels.dtype != np.uint8:
            pixels = (pixels >> 8).astype(np.uint8)
        code = _BAYER_TO_RGB[encoding[6:10]]
        return cv2.cvtColor(np.ascontiguousarray(pixels), code)
    return cv2.cvtColor(np.ascontiguousarray(pixels), _TO_RGB[encoding])


def compressed_to_rgb(
    msg: CompressedImage, topic: str = "image/compressed", max_pixels: int = 1 << 25
) -> np.ndarray:
    """Decode a CompressedImage (JPEG/PNG/...) with OpenCV into (H, W, 3) uint8 RGB.

    Raises:
        BadMessageError: Empty or undecodable data, a depth-compressed format, or bad size.
    """
    fmt = msg.format.lower()
    if "compresseddepth" in fmt:
        raise BadMessageError(
            "unsupported_encoding", f"{topic}: compressedDepth format {msg.format!r}"
        )
    if len(msg.data) == 0:
        raise BadMessageError("bad_data_length", f"{topic}: compressed image with no data")
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadMessageError(
            "undecodable", f"{topic}: cannot decode {len(buf)} bytes of format {msg.format!r}"
        )
    _check_size(topic, bgr.shape[1], bgr.shape[0], max_pixels)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def array_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """Wrap an array as an Image (one copy into the message buffer).

    ``encoding`` must match the array: mono8 (H, W) uint8, rgb8 (H, W, 3) uint8,
    32FC1 (H, W) float32.
    """
    expected = {"mono8": (2, np.uint8), "rgb8": (3, np.uint8), "32FC1": (2, np.float32)}
    ndim, dtype = expected[encoding]
    if pixels.ndim != ndim or pixels.dtype != dtype:
        raise ValueError(f"array {pixels.dtype}{pixels.shape} does not fit encoding {encoding}")
    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(pixels.dtype.byteorder == ">")
    msg.step = int(pixels.strides[0])
    data = array.array("B")
    data.frombytes(memoryview(pixels).cast("B"))
    msg.data = data
    return msg


@dataclass(frozen=True)
class ReceivedDisparity:
    """A DisparityImage as arrays: pixels (0 = invalid), focal ``f`` (px), baseline ``t`` (m).

    ``min_disparity``/``max_disparity`` are the message's search range (``max_disparity`` is
    ``inf`` when the message gives none); all of ``disparity``, ``focal`` and the range are in
    pixels of the received image, so ``resized`` must scale them together.
    """

    disparity: np.ndarray
    focal: float
    baseline: float
    nonfinite: int  # NaN/inf pixels that were set to 0
    min_disparity: float = 0.0
    max_disparity: float = math.inf

    def resized(self, width: int, height: int) -> ReceivedDisparity:
        """The same measurement at ``width`` x ``height``: values, f and range scaled by the
        width ratio (depth = f * t / d is unchanged)."""
        from ladderseg_ros.stereo import resize_disparity

        if self.disparity.shape == (height, width):
            return self
        ratio = width / self.disparity.shape[1]
        return dataclasses.replace(
            self,
            disparity=resize_disparity(self.disparity, (width, height)),
            focal=self.focal * ratio,
            min_disparity=self.min_disparity * ratio,
            max_disparity=self.max_disparity * ratio,
        )


def disparity_from_msg(
    msg: DisparityImage, topic: str = "disparity", max_pixels: int = 1 << 25
) -> ReceivedDisparity:
    """Disparity in pixels with 0 = invalid, plus the message's focal ``f`` and baseline ``t``.

    Values outside [min_disparity, max_disparity], non-positive or non-finite become 0
    (stereo_image_proc marks invalid pixels with min_disparity - 1, NaN or inf).

    Raises:
        BadMessageError: The image is not 32FC1, its buffer is malformed, or f/t are
            non-positive or non-finite.
    """
    image = msg.image
    if image.encoding != "32FC1":
        raise BadMessageError(
            "unsupported_encoding",
            f"{topic}: disparity encoding {image.encoding!r}, expected '32FC1'",
        )
    width, height, step = int(image.width), int(image.height), int(image.step)
    _check_size(topic, width, height, max_pixels)
    if step < 4 * width or step % 4:
        raise BadMessageError("bad_step", f"{topic}: step {step} invalid for {width} floats")
    if len(image.data) != step * height:
        raise BadMessageError(
            "bad_data_length",
            f"{topic}: data holds {len(image.data)} bytes, step*height = {step * height}",
        )
    f, t = float(msg.f), float(msg.t)
    if not (math.isfinite(f) and f > 0 and math.isfinite(t) and t > 0):
        raise BadMessageError("bad_calibration", f"{topic}: focal f={f} or baseline t={t}")
    dtype = np.dtype(">f4" if image.is_bigendian else "<f4")
    disp = np.frombuffer(image.data, dtype=dtype).reshape(height, step // 4)[:, :width]
    disp = disp.astype(np.float32)  # native order, writable copy
    lo = max(float(msg.min_disparity), 0.0) if math.isfinite(msg.min_disparity) else 0.0
    hi = float(msg.max_disparity) if math.isfinite(msg.max_disparity) else np.inf
    if hi <= lo:
        hi = np.inf
    finite = np.isfinite(disp)
    with np.errstate(invalid="ignore"):
        invalid = ~finite | (disp <= 0) | (disp < lo) | (disp > hi)
    disp[invalid] = 0.0
    nonfinite = int(finite.size - np.count_nonzero(finite))
    return ReceivedDisparity(disp, f, t, nonfinite, lo, hi)


def disparity_to_msg(
    disparity: np.ndarray,
    focal: float,
    baseline: float,
    header: Header | None = None,
    min_disparity: float = 0.0,
    max_disparity: float | None = None,
    delta_d: float = 1.0 / 16.0,
) -> DisparityImage:
    """Wrap a float32 disparity (0 = invalid) as a DisparityImage with f, t and range.

    Invalid pixels go out as ``INVALID_DISPARITY`` (below ``min_disparity``, the message's
    definition of invalid, as stereo_image_proc and the bag tools write them). ``delta_d``
    defaults to SGBM's sub-pixel step.
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    valid = np.isfinite(disparity) & (disparity > 0)
    msg = DisparityImage()
    if header is not None:
        msg.header = header
    out = np.where(valid, disparity, np.float32(INVALID_DISPARITY)).astype(np.float32)
    msg.image = array_to_image(out, "32FC1", header)
    msg.f = float(focal)
    msg.t = float(baseline)
    msg.min_disparity = float(min_disparity)
    if max_disparity is None or not math.isfinite(max_disparity):
        max_disparity = float(disparity[valid].max()) if valid.any() else 0.0
    msg.max_disparity = float(max_disparity)
    msg.delta_d = float(delta_d)
    msg.valid_window.width = int(disparity.shape[1])
    msg.valid_window.height = int(disparity.shape[0])
    return msg


def stereo_calibration(
    left: CameraInfo | None, right: CameraInfo | None, width: int, height: int
) -> tuple[float, float]:
    """Focal length fx (px) and baseline (m) of a rectified pair from its CameraInfos.

    baseline = (Tx_left - Tx_right) / fx with Tx = P[0, 3]; KITTI's left P has a nonzero Tx.

    Raises:
        BadMessageError: An info is missing, degenerate (fx <= 0, non-finite, baseline <= 0)
            or describes another image size than the (width, height) received.
    """
    from ladderseg_ros.stereo import baseline_from_projections

    if left is None or right is None:
        side = "left" if left is None else "right"
        raise BadMessageError("missing_camera_info", f"no {side}/camera_info received yet")
    for side, info in (("left", left), ("right", right)):
        if (info.width, info.height) not in ((0, 0), (width, height)):
            raise BadMessageError(
                "camera_info_size",
                f"{side}/camera_info is for {info.width}x{info.height}, image is {width}x{height}",
            )
    p_left = np.asarray(left.p, dtype=np.float64).reshape(3, 4)
    p_right = np.asarray(right.p, dtype=np.float64).reshape(3, 4)
    fx = float(p_left[0, 0])
    if not (math.isfinite(fx) and fx > 0 and np.isfinite(p_right).all()):
        raise BadMessageError("bad_camera_info", f"left/camera_info has P[0,0] = fx = {fx}")
    try:
        baseline = float(baseline_from_projections(p_left, p_right))
    except LadderSegError as exc:
        raise BadMessageError("bad_camera_info", f"camera_info: {exc}") from exc
    if not (math.isfinite(baseline) and baseline > 0):
        raise BadMessageError(
            "bad_camera_info",
            f"camera_info gives baseline {baseline} m (P_left Tx={p_left[0, 3]}, "
            f"P_right Tx={p_right[0, 3]}); expected > 0",
        )
    return fx, baseline
