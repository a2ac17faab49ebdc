"""Training augmentation applied to image, labels and disparity together.

Geometry moves all three the same way. Disparity is a horizontal length in pixels, so
scaling the image by ``s`` multiplies its values by ``s`` (nearest-neighbour resampling keeps
invalid zeros from bleeding into valid pixels); a horizontal flip moves the values but keeps
them. Every transform draws from the ``np.random.Generator`` it is given, so a sample's
augmentation is a function of its seed (exact resume, identical data under DDP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ladderseg_ros.classes import IGNORE_INDEX
from ladderseg_ros.data.sample import Sample
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.stereo import resize_disparity


class TransformError(LadderSegError, ValueError):
    """A transform was configured with impossible values."""


def resize_sample(sample: Sample, width: int, height: int) -> Sample:
    """Resize to (width, height): image bilinear/area, labels and disparity nearest."""
    h, w = sample.image.shape[:2]
    if (w, h) == (width, height):
        return replace(sample, right=None)
    interp = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    image = cv2.resize(sample.image, (width, height), interpolation=interp)
    labels = None
    if sample.labels is not None:
        labels = cv2.resize(sample.labels, (width, height), interpolation=cv2.INTER_NEAREST)
    disparity = None
    if sample.disparity is not None:
        disparity = resize_disparity(sample.disparity, (width, height))
    return replace(sample, image=image, labels=labels, disparity=disparity, right=None)


@dataclass(frozen=True)
class Resize:
    """Deterministic resize to a fixed (width, height)."""

    width: int
    height: int

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """The transformed sample (a new one); ``rng`` draws any randomness."""
        return resize_sample(sample, self.width, self.height)


@dataclass(frozen=True)
class RandomScale:
    """Scale jitter: resize by a factor drawn uniformly from [min_scale, max_scale]."""

    min_scale: float = 0.8
    max_scale: float = 1.2

    def __post_init__(self) -> None:
        if not 0 < self.min_scale <= self.max_scale:
            raise TransformError(
                f"scale range [{self.min_scale}, {self.max_scale}] must be positive and ordered"
            )

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """The transformed sample (a new one); ``rng`` draws any randomness."""
        s = rng.uniform(self.min_scale, self.max_scale)
        h, w = sample.image.shape[:2]
        return resize_sample(sample, max(1, round(w * s)), max(1, round(h * s)))


@dataclass(frozen=True)
class RandomCrop:
    """Crop a (width, height) window; smaller inputs are padded so every crop has that size.

    Labels are padded with ignore, disparity with 0 = invalid, the image with black.
    """

    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise TransformError(f"crop size {self.width}x{self.height} must be positive")

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """The transformed sample (a new one); ``rng`` draws any randomness."""
        h, w = sample.image.shape[:2]
        pad_h, pad_w = max(0, self.height - h), max(0, self.width - w)
        y0 = int(rng.integers(0, h + pad_h - self.height + 1))
        x0 = int(rng.integers(0, w + pad_w - self.width + 1))

        def cut(a: np.ndarray | None, fill: float) -> np.ndarray | None:
            if a is None:
                return None
            if pad_h or pad_w:
                pads = ((0, pad_h), (0, pad_w)) + ((0, 0),) * (a.ndim - 2)
                a = np.pad(a, pads, constant_values=fill)
            return np.ascontiguousarray(a[y0 : y0 + self.height, x0 : x0 + self.width])

        return replace(
            sample,
            image=cut(sample.image, 0),
            labels=cut(sample.labels, IGNORE_INDEX),
            disparity=cut(sample.disparity, 0.0),
            right=None,
        )


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Mirror image, labels and disparity with probability ``p``; disparity values are kept."""

    p: float = 0.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """The transformed sample (a new one); ``rng`` draws any randomness."""
        if rng.random() >= self.p:
            return sample

        def flip(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.ascontiguousarray(a[:, ::-1])

        return replace(
            sample,
            image=flip(sample.image),
            labels=flip(sample.labels),
            disparity=flip(sample.disparity),
            right=None,
        )


@dataclass(frozen=True)
class PhotometricJitter:
    """Random brightness, contrast and saturation factors in [1 - x, 1 + x]; image only."""

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """The transformed sample (a new one); ``rng`` draws any randomness."""
        img = sample.image.astype(np.float32)
        b = rng.uniform(1 - self.brightness, 1 + self.brightness)
        c = rng.uniform(1 - self.contrast, 1 + self.contrast)
        s = rng.uniform(1 - self.saturation, 1 + self.saturation)
        img *= b
        img = (img - img.mean()) * c + img.mean()
        gray = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        img = (img - gray[..., None]) * s + gray[..., None]
        return replace(sample, image=np.clip(img + 0.5, 0, 255).astype(np.uint8))


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = tuple(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """The transformed sample (a new one); ``rng`` draws any randomness."""
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def __repr__(self) -> str:
        return f"Compose({list(self.transforms)!r})"


@dataclass(frozen=True)
class AugmentConfig:
    """The training augmentation recipe (DESIGN §3: scale jitter 0.8-1.2, flips, crops)."""

    scale_min: float = 0.8
    scale_max: float = 1.2
    crop_width: int = 1024
    crop_height: int = 448
    flip: bool = True
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0


def build_train_transform(config: AugmentConfig) -> Compose:
    """Scale jitter -> crop (ignore padding) -> flip -> photometric jitter."""
    steps: list = []
    if (config.scale_min, config.scale_max) != (1.0, 1.0):
        steps.append(RandomScale(config.scale_min, config.scale_max))
    steps.append(RandomCrop(config.crop_width, config.crop_height))
    if config.flip:
        steps.append(RandomHorizontalFlip())
    if config.brightness or config.contrast or config.saturation:
        steps.append(PhotometricJitter(config.brightness, config.contrast, config.saturation))
    return Compose(steps)
