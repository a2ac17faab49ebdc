"""Encoded images (PNG, JPEG, ...) to arrays: size bounded before decoding, stored orientation.

Every image the package decodes, a ``sensor_msgs/CompressedImage`` or a file of a dataset, a
drive or ``predict``, goes through ``decode_image`` under two rules:

- The size comes first. Pillow's ``Image.open`` reads only the header (PNG IHDR, JPEG SOF,
  ...) and the width x height it declares is checked against a bound before a pixel is
  decoded: a 263 KB PNG declaring 16000x16000 is refused without allocating its 768 MB.
  Pillow refuses headers over its own decompression-bomb bound (2 x
  ``PIL.Image.MAX_IMAGE_PIXELS``, 179 MP) whatever the bound asked for.
- The stored orientation. An EXIF orientation tag is ignored (``cv2.IMREAD_IGNORE_ORIENTATION``),
  as ROS's image_transport decodes (``cv::IMREAD_UNCHANGED``): the pixels are the ones the
  camera's CameraInfo describes. (In a TIFF, libtiff applies the orientation for OpenCV and
  Pillow alike, so the header's size is still the decoded one.)
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np

from ladderseg_ros.errors import LadderSegError

# Largest image the offline tools decode from a file (a 8192x4096 picture; Cityscapes frames
# are 2 MP, Mapillary Vistas' largest about 20 MP). The node has ``max_image_pixels``.
MAX_IMAGE_PIXELS = 1 << 25


class ImageDecodeError(LadderSegError, ValueError):
    """Encoded image data that is not decoded; ``kind`` names the fault for counting.

    Kinds: ``huge_size`` (the header declares more pixels than allowed), ``zero_size``,
    ``undecodable`` (no header Pillow knows, or OpenCV cannot decode the data),
    ``unreadable`` (a file that cannot be read).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    """Refuse a ``width`` x ``height`` image of no pixels or of more than ``max_pixels``.

    Raises:
        ImageDecodeError: ``zero_size`` or ``huge_size``; the message names ``name``.
    """
    if width <= 0 or height <= 0:
        raise ImageDecodeError("zero_size", f"{name}: image of zero size {width}x{height}")
    if width * height > max_pixels:
        raise ImageDecodeError(
            "huge_size", f"{name}: image {width}x{height} exceeds max_image_pixels={max_pixels}"
        )


def encoded_size(
    data: bytes | memoryview | np.ndarray, name: str = "image", max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[int, int]:
    """(width, height) an encoded image declares, read from its header alone, and bounded.

    Args:
        data: The file's or message's bytes.
        name: What the messages call the image (a topic or a path).
        max_pixels: Largest width x height accepted.

    Raises:
        ImageDecodeError: ``undecodable``: no header Pillow can read; ``zero_size``;
            ``huge_size``: over ``max_pixels`` or over Pillow's decompression-bomb bound
            (179 MP), which Pillow checks as it reads the header.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # over MAX_IMAGE_PIXELS Pillow warns; ``max_pixels`` decides (and says so)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # lazy: reads the header only
                width, height = image.size
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow names the count only
        pixels = int(found.group(1)) if found else 0
        bound = (
            f"max_image_pixels={max_pixels}"
            if pixels > max_pixels
            else f"Pillow's decompression-bomb bound of {2 * (Image.MAX_IMAGE_PIXELS or 0)}"
        )
        raise ImageDecodeError(
            "huge_size", f"{name}: image of {pixels or 'too many'} pixels exceeds {bound}"
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            "undecodable", f"{name}: {len(data)} bytes without an image header Pillow knows"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError("undecodable", f"{name}: unreadable image header ({exc})") from None
    check_pixels(int(width), int(height), max_pixels, name)
    return int(width), int(height)


def decode_image(
    data: bytes | memoryview | np.ndarray,
    name: str = "image",
    max_pixels: int = MAX_IMAGE_PIXELS,
    color: bool = True,
) -> np.ndarray:
    """Decode an encoded image in its stored orientation, its size checked first.

    Args:
        data: Encoded bytes (PNG, JPEG, TIFF, WebP, ... what both Pillow and OpenCV read).
        name: What the messages call the image (a topic or a path).
        max_pixels: Largest width x height decoded.
        color: True: (H, W, 3) uint8 RGB (grey replicated, alpha dropped, 16-bit scaled);
            False: the stored channels and depth as they are (OpenCV's IMREAD_UNCHANGED).

    Returns:
        The pixels; (H, W) or (H, W, C) in the stored depth when not ``color``.

    Raises:
        ImageDecodeError: ``huge_size``/``zero_size`` from the header, or ``undecodable``.
    """
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ImageDecodeError("undecodable", f"{name}: no data")
    encoded_size(buf, name, max_pixels)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION if color else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(buf, flags)
    if image is None:
        raise ImageDecodeError("undecodable", f"{name}: cannot decode {buf.size} bytes")
    check_pixels(image.shape[1], image.shape[0], max_pixels, name)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


def read_image(
    path: str | Path, color: bool = True, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Decode an image file (see ``decode_image``); errors name the file.

    Raises:
        ImageDecodeError: ``unreadable`` (missing, a directory, no permission) or see
            ``decode_image``.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageDecodeError(
            "unreadable", f"{path}: cannot read ({exc.strerror or exc})"
        ) from None
    return decode_image(data, str(path), max_pixels, color)
