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
    msg.data = message_bytes(pixels)
    return msg


def message_bytes(contiguous: np.ndarray) -> array.array:
    """A C-contiguous array's bytes as the ``array('B')`` rclpy keeps in ``uint8[] data``
    (one copy; rclpy would convert any other sequence element by element)."""
    data = array.array("B")
    data.frombytes(contiguous.reshape(-1).view(np.uint8))
    return data


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

    def resized(self, width: int, height: int, topic: str = "disparity") -> ReceivedDisparity:
        """The same measurement at ``width`` x ``height``: values, f and range scaled by the
        width ratio (depth = f * t / d is unchanged).

        Raises:
            BadMessageError: kind ``disparity_size``: the map has another aspect than
                ``width`` x ``height`` (it would be stretched).
        """
        from ladderseg_ros.stereo import StereoError, fit_disparity

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


@dataclass(frozen=True)
class StereoGeometry:
    """What a rectified pair's CameraInfos say about the images actually received.

    ``focal`` is fx (px) and ``baseline`` (m) at the received image size;
    ``cx_offset`` = cx_left - cx_right (px): a matcher measures x_left - x_right, and the
    disparity of ``stereo_msgs/DisparityImage`` (Z = f * T / d) is that minus ``cx_offset``.
    """

    focal: float
    baseline: float
    cx_offset: float = 0.0


# relative tolerance for values a rectified pair must share (fx, fy, cy), calibration files
# print them rounded
_SHARED_TOLERANCE = 1e-4
# largest vertical or depth offset between the cameras, as a fraction of the baseline
_MAX_OFF_AXIS = 0.02


def _received_projection(info: CameraInfo, side: str, width: int, height: int) -> np.ndarray:
    """``info``'s P for the image as received: region of interest and binning applied (as
    image_geometry's PinholeCameraModel does), checked against the image size."""
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
            raise BadMessageError(
                "camera_info_size",
                f"{side}/camera_info is for {shown} = {expected[0]}x{expected[1]}, "
                f"image is {width}x{height}",
            )
    p[0] /= bx  # fx, cx, Tx in binned pixels
    p[1] /= by
    if not np.allclose(p[2, :3], (0.0, 0.0, 1.0)):
        raise BadMessageError(
            "bad_camera_info",
            f"{side}/camera_info: P's last row is {p[2].tolist()}, a rectified camera has "
            "[0, 0, 1, Tz]",
        )
    fx = float(p[0, 0])
    if not fx > 0 or not p[1, 1] > 0:
        raise BadMessageError(
            "bad_camera_info", f"{side}/camera_info has P[0,0] = fx = {fx}, P[1,1] = {p[1, 1]}"
        )
    return p


def stereo_geometry(
    left: CameraInfo | None, right: CameraInfo | None, width: int, height: int
) -> StereoGeometry:
    """Focal length, baseline and principal-point offset of a rectified, horizontal pair.

    Every field of CameraInfo that changes geometry is honoured or rejected: P (fx, fy,
    cx, cy, Tx, Ty) is used; ``roi`` and ``binning_x/y`` are applied to P as
    image_geometry does; ``width``/``height`` must describe the received image (0x0 = not
    given); D, K, R and ``distortion_model`` describe the raw camera and do not apply to
    rectified images (stereo_image_proc uses P alone, so do we). A pair whose fx, fy or cy
    differ is not rectified (rows or scale do not correspond) and one with a vertical
    (Ty) or depth (P[2,3]) offset is not horizontal: both are rejected. Differing cx
    (rectification with alpha) is honoured through ``cx_offset``. baseline =
    (Tx_left - Tx_right) / fx with Tx = P[0, 3]; KITTI's left P has a nonzero Tx.

    Raises:
        BadMessageError: An info is missing (``missing_camera_info``), describes another
            image size (``camera_info_size``) or geometry that cannot be used
            (``bad_camera_info``); the message names the field.
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
    return StereoGeometry(float(p_left[0, 0]), baseline, float(p_left[0, 2] - p_right[0, 2]))


def stereo_calibration(
    left: CameraInfo | None, right: CameraInfo | None, width: int, height: int
) -> tuple[float, float]:
    """Focal length fx (px) and baseline (m) of a rectified pair (see ``stereo_geometry``).

    Raises:
        BadMessageError: See ``stereo_geometry``.
    """
    geometry = stereo_geometry(left, right, width, height)
    return geometry.focal, geometry.baseline
