"""Stereo matching (OpenCV SGBM) and the disparity conventions the package relies on.

Disparity is float32 in pixels of the image it belongs to, 0 meaning "no measurement";
resizing an image by a factor rescales its disparity values by the same horizontal factor.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.errors import LadderSegError

if TYPE_CHECKING:
    import cv2

log = logging.getLogger(__name__)

SGBM_MODES: tuple[str, ...] = ("sgbm", "hh", "sgbm_3way", "hh4")
# How a published stereo_msgs/DisparityImage marks pixels without a measurement:
# min_disparity - 1 with min_disparity 0, stereo_image_proc's convention. Arrays inside the
# package use 0 instead (see the module docstring).
INVALID_DISPARITY = -1.0
# What a calibration may claim before it is called implausible (numbers from outside never
# size the geometry unchecked): a baseline between 1 mm (below the smallest rigs, stereo
# endoscopes of ~4 mm) and 100 m (wide-baseline rigs on trucks span ~3 m); a focal length
# up to 1e6 px (a 1000 mm lens on 1 um pixels) whose field of view over the image is at
# most 170 degrees (a rectified pinhole image; P = identity on a 64 px wide image is 176).
MIN_BASELINE_M = 1e-3
MAX_BASELINE_M = 100.0
MAX_FOCAL_PX = 1e6
MAX_FIELD_OF_VIEW_DEG = 170.0


class StereoError(LadderSegError, ValueError):
    """A stereo pair, matcher setting or calibration is unusable."""


#: Disparity that only feeds the network is matched at this fraction of the network's size:
#: the cheapest of 1, 1/2, 1/4, 1/8 that kept the shipped scale-selection weights' mIoU within
#: 0.3 and their labels >= 99% the same as at 1, on 20 held-out frames of each synthetic rig
#: at native size (KITTI 1242x375: mIoU 62.75 -> 62.57, 99.54% agree, SGBM 16.9 -> 3.1 ms;
#: Cityscapes 2048x1024: 53.83 -> 53.84, 99.33%, 18.4 -> 13.9 ms, most of it resizing the
#: pair): ``python bench/sgbm_scale.py ladderseg_ros/assets/ldn_demo.safetensors``.
NETWORK_SCALE_DEFAULT = 0.125


@dataclass(frozen=True)
class SgbmConfig:
    """OpenCV semi-global block matching settings (names follow ``cv2.StereoSGBM``).

    Attributes:
        num_disparities: Disparity search range in pixels of the input image; multiple of 16.
        block_size: Matched block size, odd, 1..31.
        p1: Smoothness penalty for +-1 changes; ``None`` = 8 * channels * block_size**2.
        p2: Penalty for larger changes; ``None`` = 32 * channels * block_size**2.
        uniqueness_ratio: Margin in percent by which the best cost must win.
        speckle_window_size: Largest speckle (pixels) that gets invalidated; 0 disables.
        speckle_range: Largest disparity variation within a connected component.
        disp12_max_diff: Left-right check tolerance in pixels; negative disables.
        pre_filter_cap: Clipping of the prefiltered image derivative.
        mode: One of ``SGBM_MODES``.
        scale: Match at ``scale`` times the input size (faster below 1), then upsample the
            disparity back to the input size with values rescaled.
        network_scale: Where disparity only feeds a scale-selection network, match at this
            fraction of the size the network runs at (its multiplexer reads disparity at
            its tap's stride, 1/8: finer matching is computed and never read). See
            ``frames.processor.FrameProcessor`` and ``bench/sgbm_scale.py``.

    Raises:
        StereoError: A setting out of OpenCV's range (the message names it).
    """

    num_disparities: int = 128
    block_size: int = 5
    p1: int | None = None
    p2: int | None = None
    uniqueness_ratio: int = 10
    speckle_window_size: int = 100
    speckle_range: int = 2
    disp12_max_diff: int = 1
    pre_filter_cap: int = 63
    mode: str = "sgbm_3way"
    scale: float = 1.0
    network_scale: float = NETWORK_SCALE_DEFAULT

    def __post_init__(self) -> None:
        if self.num_disparities <= 0 or self.num_disparities % 16:
            raise StereoError(
                f"num_disparities must be a positive multiple of 16, got {self.num_disparities}"
            )
        if self.block_size < 1 or self.block_size > 31 or self.block_size % 2 == 0:
            raise StereoError(f"block_size must be odd in 1..31, got {self.block_size}")
        if self.p1 is not None and self.p1 < 0:
            raise StereoError(f"p1 must be >= 0, got {self.p1}")
        if self.p2 is not None and self.p2 < 0:
            raise StereoError(f"p2 must be >= 0, got {self.p2}")
        if self.p1 is not None and self.p2 is not None and self.p2 <= self.p1:
            raise StereoError(f"p2 ({self.p2}) must be greater than p1 ({self.p1})")
        if not 0 <= self.uniqueness_ratio <= 100:
            raise StereoError(f"uniqueness_ratio must be in 0..100, got {self.uniqueness_ratio}")
        if self.speckle_window_size < 0 or self.speckle_range < 0:
            raise StereoError(
                f"speckle_window_size/speckle_range must be >= 0, got "
                f"{self.speckle_window_size}/{self.speckle_range}"
            )
        if self.pre_filter_cap < 1:
            raise StereoError(f"pre_filter_cap must be >= 1, got {self.pre_filter_cap}")
        if self.mode not in SGBM_MODES:
            raise StereoError(f"mode must be one of {SGBM_MODES}, got {self.mode!r}")
        if not 0.0 < self.scale <= 1.0:
            raise StereoError(f"scale must be in (0, 1], got {self.scale}")
        if not 0.0 < self.network_scale <= 1.0:
            raise StereoError(f"network_scale must be in (0, 1], got {self.network_scale}")


def _as_matchable(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise StereoError(f"{name} image must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3):
        return np.ascontiguousarray(image)
    raise StereoError(f"{name} image must be (H,W) mono8 or (H,W,3) RGB, got {image.shape}")


def fitted_num_disparities(config: SgbmConfig, width: int, min_disparity: int = 0) -> int:
    """The widest SGBM search range (pixels) that fits images ``width`` pixels wide.

    A multiple of 16, at most ``config.num_disparities``; 0 when none fits. OpenCV 4/5 needs
    ``width > max(min_disparity, 0) + num_disparities + block_size // 2``
    (measured for every mode: below it SGBM_3WAY crashes the process or asks for 2**64
    bytes, SGBM/HH raise); a range that does not fit is narrowed, never passed on.
    """
    room = int(width) - max(int(min_disparity), 0) - config.block_size // 2 - 1
    return max(0, min(config.num_disparities, room // 16 * 16))


def _matcher(
    config: SgbmConfig, num_disparities: int, channels: int, min_disparity: int = 0
) -> cv2.StereoSGBM:
    import cv2

    area = channels * config.block_size**2
    modes = {
        "sgbm": cv2.STEREO_SGBM_MODE_SGBM,
        "hh": cv2.STEREO_SGBM_MODE_HH,
        "sgbm_3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY,
        "hh4": cv2.STEREO_SGBM_MODE_HH4,
    }
    return cv2.StereoSGBM_create(
        minDisparity=min_disparity,
        numDisparities=num_disparities,
        blockSize=config.block_size,
        P1=8 * area if config.p1 is None else config.p1,
        P2=32 * area if config.p2 is None else config.p2,
        disp12MaxDiff=config.disp12_max_diff,
        preFilterCap=config.pre_filter_cap,
        uniquenessRatio=config.uniqueness_ratio,
        speckleWindowSize=config.speckle_window_size,
        speckleRange=config.speckle_range,
        mode=modes[config.mode],
    )


def compute_disparity(
    left: np.ndarray,
    right: np.ndarray,
    config: SgbmConfig | None = None,
    cx_offset: float = 0.0,
    at_matched_size: bool = False,
) -> np.ndarray:
    """Match a rectified pair with SGBM.

    Args:
        left: Left image, (H,W,3) uint8 RGB or (H,W) mono8.
        right: Right image of the same shape and type.
        config: Matcher settings; defaults to ``SgbmConfig()``. A search range wider than
            the image allows is narrowed (``fitted_num_disparities``); an image too narrow
            for any range (or a single row) has no measurement: all zeros.
        cx_offset: cx_left - cx_right of the rectified pair (px; nonzero when rectified
            with alpha). The search is shifted by it and the result corrected, so the
            disparity is that of ``stereo_msgs/DisparityImage``: Z = f * B / d.
        at_matched_size: return the disparity at the size it was matched at (``config.scale``
            times the input size, in pixels of that size) instead of upsampled.

    Returns:
        float32 (H,W) disparity in pixels of the input size (or of the matched size); 0
        where invalid.

    Raises:
        StereoError: The images are not uint8 mono/RGB or their shapes differ.
    """
    config = config or SgbmConfig()
    left = _as_matchable(left, "left")
    right = _as_matchable(right, "right")
    if left.shape != right.shape:
        raise StereoError(f"left {left.shape} and right {right.shape} images differ in shape")
    height, width = left.shape[:2]
    channels = 1 if left.ndim == 2 else 3
    num_disp = config.num_disparities
    factor = 1.0
    if config.scale < 1.0:
        size = (max(1, round(width * config.scale)), max(1, round(height * config.scale)))
        left = shrink_area(left, size)
        right = shrink_area(right, size)
        num_disp = max(16, int(np.ceil(num_disp * size[0] / width / 16.0)) * 16)
        factor = size[0] / width
    offset = float(cx_offset) * factor
    min_disp = math.floor(offset)
    num_disp = fitted_num_disparities(
        dataclasses.replace(config, num_disparities=num_disp), left.shape[1], min_disp
    )
    if num_disp == 0:
        return np.zeros(left.shape[:2] if at_matched_size else (height, width), np.float32)
    matcher = _matcher(config, num_disp, channels, min_disp)
    raw = matcher.compute(left, right)
    disp = raw.astype(np.float32) / 16.0 - np.float32(offset)
    disp[(raw < min_disp * 16) | (disp <= 0.0)] = 0.0
    if disp.shape != (height, width) and not at_matched_size:
        disp = resize_disparity(disp, (width, height))
    return disp


def shrink_area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W[, C]) uint8 shrunk to ``size`` = (w, h) by pixel-area averaging.

    Matching input for SGBM, where one OpenCV ``INTER_AREA`` is slow for large factors (a
    2048x1024 RGB image to 128x64 took 2.5 ms, to 40x24 7.4 ms): the image is first halved
    by ``INTER_AREA``'s whole-factor path (2x2 means, both sides even), then shrunk to
    ``size`` in one ``INTER_AREA`` (0.5 ms for both). Where the factors are whole numbers it
    halves only while they stay even whole numbers: the result is one ``INTER_AREA`` but for
    the rounding of each halving (at most 1 grey level apart). Elsewhere it halves while
    both factors stay at least 2 for the last step, whose pixel edges then fall inside
    halved pixels and weight them by the part covered: a coarser area average (on pixel
    noise up to 21 grey levels apart from one ``INTER_AREA``, 2048x1024 to 320x192; the
    disparity study in the README was run with it).
    """
    import cv2

    while image.shape[0] % 2 == 0 and image.shape[1] % 2 == 0:
        fx, fy = image.shape[1] / size[0], image.shape[0] / size[1]
        whole = fx.is_integer() and fy.is_integer()
        if whole and (fx % 2 or fy % 2):
            break
        if not whole and (fx < 4 or fy < 4):
            break
        image = cv2.resize(
            image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA
        )
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def resize_disparity(disparity: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a disparity map (nearest neighbour) to ``size`` = (width, height).

    Values are multiplied by the width ratio, so they stay in pixels of the new size; invalid
    pixels (0) stay 0 because nearest sampling never blends them with valid ones.

    Returns:
        float32 (height, width) disparity in pixels of the new size (a copy).

    Raises:
        StereoError: ``disparity`` is not 2-D or ``size`` is not positive.
    """
    import cv2

    disparity = np.asarray(disparity, dtype=np.float32)
    if disparity.ndim != 2:
        raise StereoError(f"disparity must be 2-D (H,W), got shape {disparity.shape}")
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise StereoError(f"target size must be positive (width, height), got {size}")
    if (height, width) == disparity.shape:
        return disparity.copy()
    out = cv2.resize(disparity, (width, height), interpolation=cv2.INTER_NEAREST)
    return out * np.float32(width / disparity.shape[1])


def network_read_size(map_size: tuple[int, int], network: tuple[int, int]) -> tuple[int, int]:
    """(width, height) at which a network of size ``network`` reads a disparity map.

    A map larger than the network each way is sampled at the network's size (nearest: only
    the pixels it reads are kept); any other map is read as it is.
    """
    if network[0] < map_size[0] and network[1] < map_size[1]:
        return network
    return map_size


def same_aspect(source: tuple[int, int], target: tuple[int, int]) -> bool:
    """True when ``source`` = (width, height) is ``target`` scaled by one factor.

    Each side may be rounded to whole pixels, as in a binned or downsampled disparity map.
    """
    (sw, sh), (tw, th) = source, target
    if min(sw, sh, tw, th) <= 0:
        return False
    # the factors s = source/target each side admits, given rounding to the nearest pixel
    low = max((sw - 0.5) / tw, (sh - 0.5) / th)
    high = min((sw + 0.5) / tw, (sh + 0.5) / th)
    return low <= high


def fit_disparity(disparity: np.ndarray, size: tuple[int, int], name: str) -> np.ndarray:
    """A disparity map at ``size`` = (width, height) of the image it belongs to.

    A map of the same aspect (a binned or downsampled matcher output) is resized with its
    values (``resize_disparity``); one of another aspect cannot be placed on the image.

    Returns:
        float32 (height, width) disparity in pixels of the image (``disparity`` itself when it
        is already float32 at that size).

    Raises:
        StereoError: The aspect ratios differ (the message names ``name`` and both sizes).
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    if disparity.ndim != 2:
        raise StereoError(f"{name}: disparity must be 2-D (H,W), got shape {disparity.shape}")
    height, width = disparity.shape
    if (width, height) == tuple(size):
        return disparity
    if not same_aspect((width, height), (int(size[0]), int(size[1]))):
        raise StereoError(
            f"{name}: disparity {width}x{height} does not have the aspect of the image "
            f"{size[0]}x{size[1]} (not a scaled copy: refusing to stretch it)"
        )
    return resize_disparity(disparity, size)


def check_baseline(baseline: float, what: str = "stereo baseline") -> float:
    """``baseline`` (m) when it is finite and in [MIN_BASELINE_M, MAX_BASELINE_M].

    Raises:
        StereoError: Outside that range (the message names ``what`` and the value).
    """
    baseline = float(baseline)
    if not MIN_BASELINE_M <= baseline <= MAX_BASELINE_M:  # NaN fails too
        raise StereoError(
            f"{what} {baseline:.6g} m is implausible: expected {MIN_BASELINE_M:g} to "
            f"{MAX_BASELINE_M:g} m"
        )
    return baseline


def check_focal(focal: float, extent: int | None = None, what: str = "focal length") -> float:
    """``focal`` (px) when finite, in (0, MAX_FOCAL_PX] and narrower than 170 degrees.

    Args:
        focal: Focal length in pixels.
        extent: The image's width (for fx) or height (for fy) in pixels, for the field of
            view; None: one pixel (fx >= 0.044 px, what any image needs).
        what: How the message names the value.

    Raises:
        StereoError: Non-finite, <= 0, above MAX_FOCAL_PX, or a field of view over
            ``extent`` wider than MAX_FIELD_OF_VIEW_DEG.
    """
    focal = float(focal)
    if not 0.0 < focal <= MAX_FOCAL_PX:  # NaN fails too
        raise StereoError(
            f"{what} {focal:.6g} px is implausible: expected > 0 and <= {MAX_FOCAL_PX:g} px"
        )
    extent = 1 if extent is None else extent
    fov = math.degrees(2.0 * math.atan(extent / (2.0 * focal)))
    if fov > MAX_FIELD_OF_VIEW_DEG:
        raise StereoError(
            f"{what} {focal:.6g} px is implausible: a {fov:.1f} degree field of view over "
            f"{extent} px (at most {MAX_FIELD_OF_VIEW_DEG:g}; P = identity?)"
        )
    return focal


def baseline_from_projections(p_left: np.ndarray, p_right: np.ndarray) -> float:
    """Stereo baseline in metres from rectified 3x4 projection matrices.

    ``(Tx_left - Tx_right) / fx`` with ``Tx = P[0, 3]``: works for ROS CameraInfo (left Tx = 0,
    right Tx = -fx * B) and for KITTI, whose left projection has a nonzero Tx too.

    Raises:
        StereoError: A matrix is not 3x4, fx is implausible (``check_focal``), or the baseline
            is not positive or implausible (``check_baseline``: a right Tx of -1e-300 is not
            a baseline).
    """
    p_left = np.asarray(p_left, dtype=np.float64).reshape(-1)
    p_right = np.asarray(p_right, dtype=np.float64).reshape(-1)
    if p_left.size != 12 or p_right.size != 12:
        raise StereoError(
            f"projection matrices must have 12 entries (3x4), got {p_left.size} and {p_right.size}"
        )
    p_left, p_right = p_left.reshape(3, 4), p_right.reshape(3, 4)
    fx = check_focal(p_right[0, 0], None, "right projection's fx")
    baseline = (p_left[0, 3] - p_right[0, 3]) / fx
    if not baseline > 0.0:
        raise StereoError(
            f"baseline from projections is {baseline:.6g} m (Tx left {p_left[0, 3]}, right "
            f"{p_right[0, 3]}): expected the right camera to the right of the left one"
        )
    return check_baseline(
        baseline,
        f"baseline from projections (Tx left {p_left[0, 3]:.6g}, right {p_right[0, 3]:.6g})",
    )
