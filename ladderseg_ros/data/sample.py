"""What every dataset yields: one training sample, and the error a bad dataset root raises."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ladderseg_ros.data.layouts import LayoutError, read_png
from ladderseg_ros.errors import LadderSegError


class DatasetError(LadderSegError):
    """A dataset root or file is missing or malformed; the message names the path."""


@dataclass
class Sample:
    """One image with its aligned annotations, in the dataset's native resolution.

    Attributes:
        image: (H, W, 3) uint8 RGB (the left view for stereo data).
        labels: (H, W) uint8 training ids (255 = ignore), or None (unlabelled data).
        disparity: (H, W) float32 left-view disparity in pixels of ``image`` (0 = invalid),
            or None.
        baseline: Stereo baseline in metres (with ``disparity``), or None.
        right: (H, W, 3) uint8 right view when loaded for inference; the training
            transforms drop it (a flipped or cropped pair is no longer a rectified pair).
        name: Identifier for logs (a file stem or a seed).
        timestamp: Capture time in seconds where the dataset records one.
    """

    image: np.ndarray
    labels: np.ndarray | None = None
    disparity: np.ndarray | None = None
    baseline: float | None = None
    right: np.ndarray | None = None
    name: str = ""
    timestamp: float | None = None


def read_rgb(path: Path) -> np.ndarray:
    """Read a colour image as (H, W, 3) uint8 RGB (any format; see ``layouts.read_png``).

    Raises:
        DatasetError: Missing, unreadable or too large (one line naming the file).
    """
    try:
        return read_png(path)
    except LayoutError as exc:
        raise DatasetError(str(exc)) from None


def read_label_png(path: Path, wide: bool = False) -> np.ndarray:
    """Read a single-channel label PNG as its stored ids.

    Grey values, or a palette PNG's indices (never its colours).

    Args:
        path: The PNG.
        wide: Also accept 16/32-bit grey images (to report out-of-range ids rather than
            refuse the file); datasets store 8-bit ids.

    Raises:
        DatasetError: The file is missing, unreadable, larger than
            ``images.MAX_IMAGE_PIXELS`` (read from its header, before decoding) or not a
            single-channel image (a colour image, e.g. a ``*_color.png``); the message
            names the file.
    """
    from PIL import Image

    from ladderseg_ros.data.images import ImageDecodeError, encoded_size

    modes = ("L", "P", "I", "I;16") if wide else ("L", "P")
    try:
        data = Path(path).read_bytes()
        encoded_size(data, str(path))  # bounded before Pillow decodes a pixel
    except ImageDecodeError as exc:
        raise DatasetError(str(exc)) from None
    except OSError as exc:
        raise DatasetError(f"{path}: missing or not a readable label image ({exc})") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.mode not in modes:
                raise DatasetError(
                    f"{path}: a label map must be a single-channel {'' if wide else '8-bit '}"
                    f"image (grey or palette), not mode {img.mode} (a colour image?)"
                )
            return np.asarray(img)
    except OSError as exc:
        raise DatasetError(f"{path}: missing or not a readable label image ({exc})") from None


def require_dir(path: Path, expected: str) -> Path:
    """Return ``path`` if it is a directory, else raise DatasetError saying what belongs there."""
    if not path.is_dir():
        raise DatasetError(f"{path}: directory not found; expected {expected}")
    return path
