"""Varied cameras for training: a virtual stereo camera per seed, seen at the trained scale.

A network recognises objects at the pixel sizes it was trained on (DESIGN §3b), and every
entry point resizes a camera image so that its focal length in pixels equals the trained one.
So what differs between cameras, once resized, is not the focal length but everything else:
the field of view (a long lens resized to the trained focal is a small image), the baseline
(disparity range), the camera height and pitch (where the horizon and road lie), the image
size and aspect, the light and weather, and how crowded the street is. The sampler draws
all of those per seed around either preset (KITTI or Cityscapes), then renders the camera
directly at the trained focal times a small scale jitter: rendering a camera at native size
and resizing it gives the same picture (the renderer filters its textures by pixel
footprint) at up to 16x the cost. Training renders only the crop window it needs.

Pitch is a principal-point shift: the horizon moves ``focal * tan(pitch)`` rows, which is a
pitched camera to first order in the angle (exact on the horizon row) and keeps the rig
level, which is what makes the ray caster fast (``raycast``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ladderseg_ros.data.synthetic.rig import RIGS, StereoRig, SyntheticError

#: Seed-stream tags: the camera, the view (scale and window) and the weather of a seed draw
#: from separate generators, so changing one range leaves the others' draws alone.
_CAMERA_STREAM, _VIEW_STREAM, _WEATHER_STREAM = 0xCA3E7A, 0x51E3, 0x3EA7


def _check_range(name: str, bounds: tuple[float, float], positive: bool = True) -> None:
    lo, hi = bounds
    if not lo <= hi or (positive and lo <= 0):
        raise SyntheticError(
            f"camera variation {name} {list(bounds)}: expected an ordered "
            f"{'positive ' if positive else ''}range"
        )


@dataclass(frozen=True)
class CameraVariation:
    """Ranges of the virtual cameras the training sampler draws (uniform unless log-uniform).

    Attributes:
        presets: Rigs to vary around (``RIGS`` names), drawn with equal probability.
        focal_factor: Log-uniform factor on the preset's focal length (native pixels).
        baseline_factor: Log-uniform factor on the preset's baseline.
        camera_height: Height of the optical centres above the road, metres.
        pitch_deg: Camera pitch in degrees, positive looking up (horizon moves down).
        size_factor: Factor on the preset's width and, drawn separately, height (native
            pixels): image size and aspect.
        density: Log-uniform factor on the street's traffic, parked cars and pedestrians.
        weather: Strength of the photometric and weather changes (``Weather``); 0 = none.
    """

    presets: tuple[str, ...] = ("kitti", "cityscapes")
    focal_factor: tuple[float, float] = (0.5, 2.0)
    baseline_factor: tuple[float, float] = (0.6, 1.6)
    camera_height: tuple[float, float] = (1.1, 1.9)
    pitch_deg: tuple[float, float] = (-3.0, 3.0)
    size_factor: tuple[float, float] = (0.7, 1.3)
    density: tuple[float, float] = (0.5, 2.0)
    weather: float = 1.0

    def __post_init__(self) -> None:
        unknown = [p for p in self.presets if p not in RIGS]
        if not self.presets or unknown:
            raise SyntheticError(
                f"camera variation presets {list(self.presets)}: expected names from "
                f"{', '.join(RIGS)}"
            )
        for name in ("focal_factor", "baseline_factor", "camera_height", "size_factor",
                     "density"):  # fmt: skip
            _check_range(name, getattr(self, name))
        _check_range("pitch_deg", self.pitch_deg, positive=False)
        if not (self.pitch_deg[0] > -30 and self.pitch_deg[1] < 30):
            raise SyntheticError(
                f"camera variation pitch_deg {list(self.pitch_deg)}: keep |pitch| < 30"
            )
        if not 0 <= self.weather <= 1:
            raise SyntheticError(f"camera variation weather {self.weather}: expected 0..1")


@dataclass(frozen=True)
class Weather:
    """Photometric and weather-like changes of one frame, applied to both views alike.

    Attributes:
        exposure: Gain on linear intensity.
        gamma: Exponent on 0..1 intensity (> 1 darker mid-tones).
        tint: Per-channel (RGB) white-balance gains.
        visibility: Metres at which haze hides 95% of a surface (inf = clear air); the sky
            takes the haze colour fully.
        haze: Haze colour (RGB 0..1).
        overcast: 0..1, loss of saturation and contrast under a grey sky.
        blur: Gaussian blur sigma in pixels (defocus, motion, rain on the lens).
        noise: Sensor noise sigma in 0..255 units (independent per view).
    """

    exposure: float = 1.0
    gamma: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    visibility: float = math.inf
    haze: tuple[float, float, float] = (0.8, 0.8, 0.82)
    overcast: float = 0.0
    blur: float = 0.0
    noise: float = 0.0

    def apply(self, image: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply to one view.

        Args:
            image: (H, W, 3) uint8 RGB.
            depth: (H, W) float32 camera depth in metres of that view (0 = sky, no hit).
            rng: Noise generator (one per view: sensor noise is independent).

        Returns:
            (H, W, 3) uint8 RGB.
        """
        import cv2

        img = image.astype(np.float32) / 255.0
        if math.isfinite(self.visibility):
            dist = np.where(depth > 0, depth, np.float32(1e9))
            fog = 1.0 - np.exp(-3.0 * dist / np.float32(self.visibility))
            img += fog[..., None] * (np.asarray(self.haze, np.float32) - img)
        if self.overcast:
            grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
            keep = np.float32(1.0 - 0.6 * self.overcast)
            img = grey[..., None] + (img - grey[..., None]) * keep
            img = np.float32(0.5) + (img - np.float32(0.5)) * np.float32(1.0 - 0.3 * self.overcast)
        img *= np.asarray(self.tint, np.float32) * np.float32(self.exposure)
        np.clip(img, 0.0, 1.0, out=img)
        if self.gamma != 1.0:
            img **= np.float32(self.gamma)
        if self.blur > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), self.blur)
        img *= np.float32(255.0)
        if self.noise > 0:
            img += rng.normal(0.0, self.noise, img.shape).astype(np.float32)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def sample_weather(seed: int, strength: float) -> Weather:
    """The weather of ``seed``.

    Clear and neutral at strength 0, up to dusk-dark, bright, tinted, hazy (visibility down
    to 60 m), overcast, blurred and noisy at strength 1.
    """
    rng = np.random.default_rng([seed, _WEATHER_STREAM])
    draws = rng.random(10)
    if strength <= 0:
        return Weather()
    k = strength
    hazy = draws[3] < 0.3 * k
    return Weather(
        exposure=float(np.exp(k * (draws[0] * 2 - 1) * math.log(1.8))),
        gamma=float(np.exp(k * (draws[1] * 2 - 1) * math.log(1.4))),
        tint=tuple(float(1 + k * 0.12 * (2 * d - 1)) for d in rng.random(3)),
        visibility=float(60.0 * np.exp(draws[4] * math.log(20.0))) if hazy else math.inf,
        haze=tuple(float(0.72 + 0.15 * draws[5] + 0.04 * d) for d in rng.random(3)),
        overcast=float(k * draws[6]) if draws[7] < 0.5 else 0.0,
        blur=float(k * 1.5 * draws[8] ** 2),
        noise=float(k * 6.0 * draws[9] ** 2),
    )


@dataclass(frozen=True)
class VirtualCamera:
    """One drawn camera: the rig at native size, the street density and the weather."""

    preset: str
    rig: StereoRig
    pitch_deg: float
    density: float
    weather: Weather


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], log: bool = False) -> float:
    lo, hi = bounds
    if log:
        return float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def sample_camera(seed: int, variation: CameraVariation) -> VirtualCamera:
    """The virtual camera of ``seed`` (same seed and ranges, same camera).

    Returns:
        A camera whose rig is at native size: ``rig.focal`` is the preset's times the drawn
        focal factor, ``rig.cy`` carries the pitch.
    """
    rng = np.random.default_rng([seed, _CAMERA_STREAM])
    preset = variation.presets[int(rng.integers(len(variation.presets)))]
    base = RIGS[preset]
    focal = base.focal * _uniform(rng, variation.focal_factor, log=True)
    width = max(16, round(base.width * _uniform(rng, variation.size_factor)))
    height = max(16, round(base.height * _uniform(rng, variation.size_factor)))
    pitch = _uniform(rng, variation.pitch_deg)
    # Principal point near the centre (as rectification leaves it), moved by the pitch.
    cx = (width - 1) / 2 + width * rng.uniform(-0.02, 0.02)
    cy = (height - 1) / 2 + height * rng.uniform(-0.03, 0.03)
    cy += focal * math.tan(math.radians(pitch))
    rig = StereoRig(
        width=width,
        height=height,
        focal=focal,
        baseline=base.baseline * _uniform(rng, variation.baseline_factor, log=True),
        camera_height=_uniform(rng, variation.camera_height),
        cx=cx,
        cy=cy,
    )
    return VirtualCamera(
        preset=preset,
        rig=rig,
        pitch_deg=pitch,
        density=_uniform(rng, variation.density, log=True),
        weather=sample_weather(seed, variation.weather),
    )


def at_focal(rig: StereoRig, focal: float) -> StereoRig:
    """``rig`` resized so that its focal length is ``focal`` pixels; baseline and height stay.

    This is what ``Segmenter`` does to a camera image for the trained scale.
    """
    s = focal / rig.focal
    width, height = max(16, round(rig.width * s)), max(16, round(rig.height * s))
    return replace(
        rig,
        width=width,
        height=height,
        focal=focal,
        cx=(rig.cx + 0.5) * s - 0.5,
        cy=(rig.cy + 0.5) * s - 0.5,
    )


def trained_view(
    seed: int,
    camera: VirtualCamera,
    focal: float,
    scale: tuple[float, float] = (1.0, 1.0),
    window: tuple[int, int] | None = None,
) -> tuple[StereoRig, tuple[int, int, int, int]]:
    """Where to render ``camera`` for training.

    At ``focal`` times a log-uniform scale jitter, cut to a random ``window`` (width,
    height) of that image, or all of it.

    Returns:
        The whole image's rig at that scale, and the window (x0, y0, width, height) in it:
        ``window`` or smaller where the image is smaller; the whole image without
        ``window``. Render the window with ``crop_rig``.
    """
    _check_range("scale", scale)
    rng = np.random.default_rng([seed, _VIEW_STREAM])
    full = at_focal(camera.rig, focal * _uniform(rng, scale, log=True))
    if window is None:
        return full, (0, 0, full.width, full.height)
    w, h = min(window[0], full.width), min(window[1], full.height)
    x0 = int(rng.integers(0, full.width - w + 1))
    y0 = int(rng.integers(0, full.height - h + 1))
    return full, (x0, y0, w, h)


def crop_rig(rig: StereoRig, x0: int, y0: int, width: int, height: int) -> StereoRig:
    """The sub-window of ``rig`` starting at column ``x0``, row ``y0``.

    Same camera, principal point moved, so its render is that window of the full render.
    """
    return replace(rig, width=width, height=height, cx=rig.cx - x0, cy=rig.cy - y0)
