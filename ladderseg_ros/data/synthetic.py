"""The synthetic stereo world: a procedural street seen by a calibrated, rectified stereo rig.

No dataset can be downloaded where this package is built, so it carries its own world: a
vectorized ray caster over a ground plane, axis-aligned boxes and ellipsoids (facades, walls,
fences, poles, signs, lights, vehicles, people, bicycles, trees), with exact Cityscapes labels,
depth and disparity. Textures are procedural and anchored in the world, so the right view,
rendered from the right camera, matches the left one and stereo matching recovers disparity.

The rig is level (no pitch or roll), so every ray's world direction is a function of the column
(x, z components) and the row (y component) alone: the slab tests run on 1-D arrays and only
their combination is 2-D. That is what makes the renderer fast in numpy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from ladderseg_ros.classes import TRAIN_TO_LABEL_ID
from ladderseg_ros.data.layouts import CameraCalib
from ladderseg_ros.errors import LadderSegError

log = logging.getLogger(__name__)

SPLIT_SEEDS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_100_000),
    "test": range(1_100_000, 1_200_000),
}
# Drives start at a fixed, nonzero epoch: a zero stamp means "unset" to many ROS tools.
SYNTHETIC_EPOCH = 1_600_000_000.0

# Cityscapes trainIds.
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)
# Classes the world contains (train and motorcycle are absent).
WORLD_CLASSES: tuple[int, ...] = (
    ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY,
    PERSON, RIDER, CAR, TRUCK, BUS, BICYCLE,
)  # fmt: skip

# Materials: how a surface is shaded (several per class, e.g. car paint, glass and tyres).
(M_ROAD, M_PAVING, M_FACADE, M_WALL, M_FENCE, M_METAL, M_LIGHT, M_SIGN, M_LEAVES, M_BARK,
 M_GRASS, M_PAINT, M_GLASS, M_TYRE, M_CLOTH, M_SKIN, M_BIKE, M_BUS,
 M_CARGO) = range(19)  # fmt: skip
# Alpha tests: cut-outs of thin boxes (slatted fences, round signs, bicycle frames).
A_NONE, A_SLATS, A_DISC, A_BIKE = range(4)
_NEAR = 0.25
_TILE = 128
_LEVELS = 7
_BATCH_AREA = 400  # primitives covering fewer pixels are ray-cast in one batch


class SyntheticError(LadderSegError, ValueError):
    """A rig or rendering request is invalid."""


@dataclass(frozen=True)
class StereoRig:
    """A level, rectified stereo rig: square pixels, one focal length, right camera at +x.

    Attributes:
        width, height: Image size in pixels.
        focal: Focal length in pixels.
        baseline: Distance between the optical centres in metres.
        camera_height: Height of the optical centres above the road in metres.
        cx, cy: Principal point; ``None`` = image centre.
    """

    width: int
    height: int
    focal: float
    baseline: float
    camera_height: float = 1.65
    cx: float | None = None
    cy: float | None = None

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise SyntheticError(f"rig size must be at least 16x16, got {self.width}x{self.height}")
        if not (self.focal > 0 and self.baseline > 0 and self.camera_height > _NEAR):
            raise SyntheticError(
                f"rig needs focal > 0, baseline > 0, camera_height > {_NEAR}: got "
                f"{self.focal}, {self.baseline}, {self.camera_height}"
            )
        if self.cx is None:
            object.__setattr__(self, "cx", (self.width - 1) / 2.0)
        if self.cy is None:
            object.__setattr__(self, "cy", (self.height - 1) / 2.0)

    def resized(self, width: int, height: int) -> StereoRig:
        """The same rig imaged at another size: focal scales with the width ratio."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=int(width),
            height=int(height),
            focal=self.focal * sx,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    @property
    def calib(self) -> CameraCalib:
        return CameraCalib(self.focal, self.focal, float(self.cx), float(self.cy), self.baseline)

    def projections(self) -> tuple[np.ndarray, np.ndarray]:
        """Rectified 3x4 projections (left Tx = 0, right Tx = -focal * baseline)."""
        p_left = np.array(
            [[self.focal, 0, self.cx, 0], [0, self.focal, self.cy, 0], [0, 0, 1, 0]], float
        )
        p_right = p_left.copy()
        p_right[0, 3] = -self.focal * self.baseline
        return p_left, p_right


KITTI_RIG = StereoRig(1242, 375, 721.5377, 0.54, 1.65, 609.5593, 172.854)
CITYSCAPES_RIG = StereoRig(2048, 1024, 2262.52, 0.209313, 1.22, 1096.98, 513.137)
RIGS: dict[str, StereoRig] = {"kitti": KITTI_RIG, "cityscapes": CITYSCAPES_RIG}


@dataclass
class SyntheticFrame:
    """One rendered stereo frame with exact ground truth for the left view.

    ``disparity`` and ``depth`` are 0 where undefined (sky).
    """

    left: np.ndarray
    right: np.ndarray
    train_ids: np.ndarray
    label_ids: np.ndarray
    disparity: np.ndarray
    depth: np.ndarray
    rig: StereoRig
    timestamp: float
    index: int
    seed: int


# ----------------------------------------------------------------------------- textures


@lru_cache(maxsize=1)
def _noise_stacks() -> np.ndarray:
    """Periodic noise tiles, each with a blurred stack standing in for mip-mapping.

    Returns (3, LEVELS, TILE, TILE) float32 in about [-1, 1]: 0 grain, 1 blotches, 2 leaves.
    Level L is the tile blurred over 2**L texels, so a pixel covering many texels reads their
    average instead of one aliased sample that would differ between the two views.
    """
    rng = np.random.default_rng(12345)
    fy = np.fft.fftfreq(_TILE)[:, None]
    fx = np.fft.fftfreq(_TILE)[None, :]
    radius = np.sqrt(fx**2 + fy**2) + 1.0 / _TILE
    spectra = (radius**-0.6, radius**-1.6, np.exp(-(((radius - 0.12) / 0.06) ** 2)) + 0.15)
    stacks = np.empty((3, _LEVELS, _TILE, _TILE), np.float32)
    for k, shape in enumerate(spectra):
        white = np.fft.fft2(rng.standard_normal((_TILE, _TILE)))
        for level in range(_LEVELS):
            sigma = 0.0 if level == 0 else 0.6 * 2.0**level
            blur = np.exp(-2.0 * (np.pi * sigma * radius) ** 2)
            tile = np.real(np.fft.ifft2(white * shape * blur))
            if level == 0:
                norm = 1.0 / (2.5 * tile.std())
            stacks[k, level] = tile * norm
    return np.clip(stacks, -1.5, 1.5)


def _noise(kind: int, s: np.ndarray, t: np.ndarray, scale, footprint: np.ndarray) -> np.ndarray:
    """Sample noise tile ``kind`` at world surface coordinates (s, t) metres, ``scale`` texels/m."""
    stack = _noise_stacks()[kind]
    level = np.clip(np.log2(np.maximum(footprint * scale, 1e-6)) + 0.5, 0, _LEVELS - 1)
    ix = np.floor(s * scale).astype(np.int64) & (_TILE - 1)
    iy = np.floor(t * scale).astype(np.int64) & (_TILE - 1)
    return stack[level.astype(np.int64), iy, ix]


def _hash01(*ints: np.ndarray) -> np.ndarray:
    """A cheap integer hash to [0, 1), for per-tile / per-window variation."""
    h = np.zeros(np.shape(ints[0]), np.uint32)
    for k, a in enumerate(ints):
        h ^= (np.asarray(a).astype(np.int64) * (0x9E3779B1 + 0x632BE5AB * k)).astype(np.uint32)
        h = (h ^ (h >> np.uint32(15))) * np.uint32(0x2C1B3C6D)
        h ^= h >> np.uint32(12)
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) / float(0x1000000)


# ----------------------------------------------------------------------------- the world


@dataclass
class _World:
    """Primitives of one procedural street; index 0 is the ground plane."""

    road_half: float
    lane_width: float
    lanes: int
    ego_x: float
    sun: np.ndarray
    sky_tint: np.ndarray
    road_tone: float
    paving_size: float
    lo: list = field(default_factory=list)
    hi: list = field(default_factory=list)
    cls: list = field(default_factory=list)
    mat: list = field(default_factory=list)
    color: list = field(default_factory=list)
    alpha: list = field(default_factory=list)
    param: list = field(default_factory=list)
    ellipsoid: list = field(default_factory=list)

    def box(self, lo, hi, cls, mat, color, alpha=A_NONE, param=0.0, ell=False) -> None:
        self.lo.append(lo)
        self.hi.append(hi)
        self.cls.append(cls)
        self.mat.append(mat)
        self.color.append(color)
        self.alpha.append(alpha)
        self.param.append(param)
        self.ellipsoid.append(ell)

    def freeze(self) -> None:
        """Turn the primitive lists into arrays (index 0 = ground, boxes from 1)."""
        self.lo_a = np.array([(0, 0, 0), *self.lo], np.float64)
        self.hi_a = np.array([(0, 0, 0), *self.hi], np.float64)
        self.cls_a = np.array([ROAD, *self.cls], np.uint8)
        self.mat_a = np.array([M_ROAD, *self.mat], np.int64)
        self.color_a = np.array([(0.3, 0.3, 0.3), *self.color], np.float32)
        self.alpha_a = np.array([A_NONE, *self.alpha], np.int64)
        self.param_a = np.array([0.0, *self.param], np.float32)
        self.ell_a = np.array([False, *self.ellipsoid], bool)
        self.lo_f, self.hi_f = self.lo_a.astype(np.float32), self.hi_a.astype(np.float32)
        self.mat_lut = np.array([-1, *self.mat_a], np.int8)  # by primitive index + 1 (sky -1)


def _jitter(rng: np.random.Generator, base, amount: float = 0.08) -> tuple:
    c = np.asarray(base, float) * rng.uniform(0.8, 1.15) + rng.uniform(-amount, amount, 3)
    return tuple(np.clip(c, 0.02, 0.98))


_FACADES = ((0.78, 0.72, 0.62), (0.62, 0.35, 0.28), (0.85, 0.84, 0.8), (0.55, 0.55, 0.56),
            (0.86, 0.76, 0.55), (0.7, 0.6, 0.52), (0.45, 0.42, 0.4))  # fmt: skip
_PAINTS = ((0.85, 0.85, 0.86), (0.08, 0.08, 0.09), (0.45, 0.46, 0.48), (0.6, 0.08, 0.07),
           (0.1, 0.2, 0.5), (0.7, 0.7, 0.72), (0.15, 0.3, 0.2), (0.8, 0.6, 0.1))  # fmt: skip
_CLOTHES = ((0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.6, 0.1, 0.1), (0.75, 0.75, 0.7),
            (0.35, 0.3, 0.25), (0.2, 0.4, 0.25), (0.8, 0.55, 0.2))  # fmt: skip
_SKIN = ((0.87, 0.68, 0.55), (0.62, 0.44, 0.32), (0.38, 0.26, 0.18))


def _add_person(w: _World, rng, x: float, z: float, ground: float, cls: int = PERSON) -> None:
    height = rng.uniform(1.55, 1.95)
    k = height / 1.75
    pants = _jitter(rng, _CLOTHES[rng.integers(len(_CLOTHES))])
    shirt = _jitter(rng, _CLOTHES[rng.integers(len(_CLOTHES))])
    skin = _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 0.03)
    p = rng.random()
    leg_top = ground + 0.85 * k
    for side in (-1, 1):
        lx = x + side * 0.1 * k
        dz = rng.uniform(-0.12, 0.12)
        w.box((lx - 0.07 * k, ground, z + dz - 0.08), (lx + 0.07 * k, leg_top, z + dz + 0.08),
              cls, M_CLOTH, pants, param=p)  # fmt: skip
        w.box((x + side * 0.24 * k - 0.05, ground + 0.8 * k, z - 0.06),
              (x + side * 0.24 * k + 0.05, ground + 1.45 * k, z + 0.06), cls, M_CLOTH, shirt,
              param=p)  # fmt: skip
    w.box((x - 0.19 * k, leg_top, z - 0.12), (x + 0.19 * k, ground + 1.48 * k, z + 0.12),
          cls, M_CLOTH, shirt, param=p)  # fmt: skip
    hc = (x, ground + 1.62 * k, z)
    r = (0.1 * k, 0.13 * k, 0.11 * k)
    w.box(tuple(np.subtract(hc, r)), tuple(np.add(hc, r)), cls, M_SKIN, skin, param=p, ell=True)


def _add_bicycle(w: _World, rng, x: float, z: float, ground: float, rider: bool) -> None:
    color = _jitter(rng, _PAINTS[rng.integers(len(_PAINTS))])
    w.box((x - 0.03, ground, z), (x + 0.03, ground + 1.0, z + 1.75), BICYCLE, M_BIKE, color,
          alpha=A_BIKE)  # fmt: skip
    if rider:
        _add_person(w, rng, x, z + 0.8, ground + 0.35, cls=RIDER)


def _add_car(w: _World, rng, x: float, z: float, heading: int) -> None:
    length, width = rng.uniform(3.8, 4.9), rng.uniform(1.7, 1.9)
    paint = _jitter(rng, _PAINTS[rng.integers(len(_PAINTS))], 0.05)
    p = float(heading > 0) * 0.5 + rng.uniform(0, 0.5)
    z0, z1 = z - length / 2, z + length / 2
    body_top = rng.uniform(0.95, 1.05)
    w.box((x - width / 2, 0.3, z0), (x + width / 2, body_top, z1), CAR, M_PAINT, paint, param=p)
    c0 = z0 + length * rng.uniform(0.22, 0.32)
    c1 = c0 + length * rng.uniform(0.42, 0.52)
    w.box((x - width / 2 + 0.08, body_top, c0), (x + width / 2 - 0.08, body_top + 0.48, c1),
          CAR, M_GLASS, paint, param=p)  # fmt: skip
    for wz in (z0 + 0.5, z1 - 1.1):
        for wx in (x - width / 2 + 0.02, x + width / 2 - 0.24):
            w.box((wx, 0.0, wz), (wx + 0.22, 0.62, wz + 0.62), CAR, M_TYRE, (0.05, 0.05, 0.05))


def _add_big_vehicle(w: _World, rng, x: float, z: float, bus: bool) -> None:
    if bus:
        length = rng.uniform(11, 13)
        color = _jitter(rng, ((0.85, 0.8, 0.2), (0.75, 0.1, 0.1), (0.2, 0.4, 0.7))[
            rng.integers(3)])  # fmt: skip
        w.box((x - 1.25, 0.3, z), (x + 1.25, 3.1, z + length), BUS, M_BUS, color)
        wheels, cls = (z + 1.5, z + length - 3.5), BUS
    else:
        length = rng.uniform(7, 9)
        cab = _jitter(rng, _PAINTS[rng.integers(len(_PAINTS))])
        cargo = _jitter(rng, ((0.9, 0.9, 0.88), (0.6, 0.62, 0.65), (0.3, 0.45, 0.6))[
            rng.integers(3)])  # fmt: skip
        w.box((x - 1.25, 0.5, z), (x + 1.25, 3.7, z + length - 2.4), TRUCK, M_CARGO, cargo,
              param=rng.random())  # fmt: skip
        w.box((x - 1.2, 0.5, z + length - 2.3), (x + 1.2, 2.9, z + length), TRUCK, M_PAINT,
              cab, param=rng.uniform(0.5, 1.0))  # fmt: skip
        wheels, cls = (z + 1.0, z + length - 1.5), TRUCK
    for wz in wheels:
        for wx in (x - 1.2, x + 0.9):
            w.box((wx, 0.0, wz), (wx + 0.3, 1.0, wz + 1.0), cls, M_TYRE, (0.05, 0.05, 0.05))


def _add_side(w: _World, rng, side: int, z_min: float, z_max: float, curb: float) -> None:
    """Sidewalk, facades, walls, fences, vegetation and street furniture along one road side."""
    half = w.road_half
    sw = rng.uniform(2.0, 5.0)

    def xs(a: float, b: float) -> tuple[float, float]:  # lateral interval on this side
        return (side * a, side * b) if side > 0 else (side * b, side * a)

    def bx(a, b, y0, y1, z0, z1, cls, mat, color, **kw) -> None:
        x0, x1 = xs(a, b)
        w.box((x0, y0, z0), (x1, y1, z1), cls, mat, color, **kw)

    paving = _jitter(rng, (0.62, 0.6, 0.57), 0.04)
    grass = _jitter(rng, (0.35, 0.45, 0.18), 0.05)
    for z in np.arange(z_min, z_max, 12.0):
        bx(half, half + sw, 0, curb, z, z + 12.0, SIDEWALK, M_PAVING, paving)
        bx(half + sw, half + 70, 0, curb, z, z + 12.0, TERRAIN, M_GRASS, grass)
    # Facades: a front row at varying set-back, walls or fences in the gaps, and a back row.
    z = z_min
    while z < z_max:
        width = rng.uniform(8, 30)
        kind = rng.random()
        front = half + sw + (0.0 if rng.random() < 0.5 else rng.uniform(1, 9))
        if kind < 0.62:
            color = _jitter(rng, _FACADES[rng.integers(len(_FACADES))], 0.05)
            bx(front, front + rng.uniform(10, 18), 0, rng.uniform(6, 24), z, z + width,
               BUILDING, M_FACADE, color, param=rng.random())  # fmt: skip
        else:
            edge = half + sw + rng.uniform(0.0, 1.0)
            if kind < 0.8:
                bx(edge, edge + 0.3, curb, curb + rng.uniform(0.8, 2.6), z, z + width, WALL,
                   M_WALL, _jitter(rng, (0.6, 0.58, 0.55)), param=rng.random())  # fmt: skip
            else:
                bx(edge, edge + 0.05, curb, curb + rng.uniform(1.0, 2.0), z, z + width, FENCE,
                   M_FENCE, _jitter(rng, (0.5, 0.4, 0.3)), alpha=A_SLATS,
                   param=rng.uniform(0.08, 0.2))  # fmt: skip
            for tz in np.arange(z + 2, z + width - 1, rng.uniform(3, 6)):
                _add_tree(w, rng, side * (edge + rng.uniform(2, 6)), tz, curb)
            if rng.random() < 0.5:
                bx(
                    edge + 1,
                    edge + 3,
                    curb,
                    curb + rng.uniform(0.8, 1.6),
                    z,
                    z + width,
                    VEGETATION,
                    M_LEAVES,
                    _jitter(rng, (0.2, 0.35, 0.1)),
                    param=rng.random(),
                )
        z += width + (rng.uniform(2, 8) if rng.random() < 0.3 else 0.0)
    z = z_min
    while z < z_max:
        width = rng.uniform(15, 40)
        back = half + sw + rng.uniform(22, 32)
        bx(
            back,
            back + 15,
            0,
            rng.uniform(10, 30),
            z,
            z + width,
            BUILDING,
            M_FACADE,
            _jitter(rng, _FACADES[rng.integers(len(_FACADES))]),
            param=rng.random(),
        )
        z += width
    # Street furniture near the curb.
    for z in np.arange(z_min + rng.uniform(0, 20), z_max, rng.uniform(20, 35)):
        a = half + 0.45
        top = rng.uniform(6, 8)
        bx(a, a + 0.16, curb, top, z, z + 0.16, POLE, M_METAL, _jitter(rng, (0.5, 0.5, 0.5)))
        bx(a - 1.6, a + 0.16, top - 0.12, top, z, z + 0.14, POLE, M_METAL, (0.45, 0.45, 0.45))
    for z in np.arange(z_min + rng.uniform(0, 10), z_max, rng.uniform(7, 16)):
        if rng.random() < 0.55:
            _add_tree(w, rng, side * (half + sw * rng.uniform(0.55, 0.8)), z, curb)
    for z in np.arange(z_min + rng.uniform(0, 30), z_max, rng.uniform(25, 45)):
        a = half + rng.uniform(0.3, 0.8)
        top = rng.uniform(2.2, 2.8)
        bx(a, a + 0.07, curb, top, z, z + 0.07, POLE, M_METAL, (0.55, 0.55, 0.57))
        size = rng.uniform(0.55, 0.8)
        c = side * (a + 0.035)
        kind = rng.integers(3)
        w.box((c - size / 2, top - 0.05, z - 0.03), (c + size / 2, top + size - 0.05, z),
              SIGN, M_SIGN, (0.8, 0.1, 0.1), alpha=A_DISC if kind < 2 else A_NONE,
              param=float(kind))  # fmt: skip
    # People and parked bicycles on the sidewalk.
    for z in np.arange(z_min, z_max, 4.0):
        if rng.random() < 0.22:
            _add_person(w, rng, side * (half + rng.uniform(0.8, sw - 0.4)), z, curb)
        elif rng.random() < 0.05:
            _add_bicycle(w, rng, side * (half + sw - 0.4), z, curb, rider=False)


def _add_tree(w: _World, rng, x: float, z: float, ground: float) -> None:
    trunk = rng.uniform(0.2, 0.4)
    top = ground + rng.uniform(1.8, 3.2)
    bark = _jitter(rng, (0.35, 0.27, 0.2), 0.04)
    w.box((x - trunk / 2, ground, z - trunk / 2), (x + trunk / 2, top + 0.5, z + trunk / 2),
          VEGETATION, M_BARK, bark)  # fmt: skip
    leaves = _jitter(rng, ((0.22, 0.38, 0.12), (0.3, 0.42, 0.1), (0.15, 0.3, 0.12))[
        rng.integers(3)], 0.04)  # fmt: skip
    for _ in range(rng.integers(1, 3)):
        r = rng.uniform(1.2, 2.8, 3) * (1.0, 1.1, 1.0)
        c = np.array([x, top + r[1] * 0.8, z]) + rng.uniform(-0.6, 0.6, 3) * (1, 0.3, 1)
        w.box(tuple(c - r), tuple(c + r), VEGETATION, M_LEAVES, leaves, param=rng.random(),
              ell=True)  # fmt: skip


def _build_world(seed: int, z_min: float, z_max: float, clear: tuple[float, float]) -> _World:
    """Generate the street of ``seed`` between z_min and z_max (metres along the road).

    The ego lane is kept free of vehicles between ``clear[0]`` and ``clear[1]``.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    lanes = int(rng.choice([1, 1, 2]))
    lane_w = rng.uniform(3.0, 3.6)
    parking = 2.3 if rng.random() < 0.7 else 0.0
    half = lanes * lane_w + parking
    elevation, azimuth = rng.uniform(0.4, 1.1), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                    np.cos(elevation) * np.cos(azimuth)])  # fmt: skip
    w = _World(
        road_half=half,
        lane_width=lane_w,
        lanes=lanes,
        ego_x=(lanes - 0.5) * lane_w,
        sun=sun,
        sky_tint=np.array(_jitter(rng, (0.55, 0.7, 0.9), 0.05)),
        road_tone=rng.uniform(0.28, 0.42),
        paving_size=rng.uniform(0.3, 0.6),
    )
    curb = rng.uniform(0.1, 0.16)
    for side in (1, -1):
        _add_side(w, rng, side, z_min, z_max, curb)
    # Parked cars, traffic in both directions, trucks, buses, cyclists, crossing people.
    for side in (1, -1):
        if parking:
            z = z_min + rng.uniform(0, 5)
            while z < z_max:
                z += rng.uniform(4.8, 6.5)
                if rng.random() < 0.7:
                    _add_car(w, rng, side * (half - 1.15), z, side)
    for lane in range(-lanes, lanes):
        x = (lane + 0.5) * lane_w
        z = z_min + rng.uniform(0, 20)
        while z < z_max:
            z += rng.uniform(10, 45)
            ego = lane == lanes - 1
            if ego and clear[0] - 8 < z < clear[1] + 12:
                continue
            u = rng.random()
            if u < 0.1:
                _add_big_vehicle(w, rng, x, z, bus=True)
                z += 13
            elif u < 0.2:
                _add_big_vehicle(w, rng, x, z, bus=False)
                z += 9
            else:
                _add_car(w, rng, x + rng.uniform(-0.3, 0.3), z, 1 if x > 0 else -1)
    for z in np.arange(z_min, z_max, 10.0):
        if rng.random() < 0.12 and not clear[0] - 3 < z < clear[1] + 6:
            _add_bicycle(w, rng, half - parking - 0.6, z, 0.0, rider=True)
        if rng.random() < 0.05 and not clear[0] - 3 < z < clear[1] + 6:
            _add_person(w, rng, rng.uniform(-half + 0.5, half - 0.5), z, 0.0)
    # Traffic lights at intersections-to-be, on both curbs, facing the traffic.
    for z in np.arange(z_min + rng.uniform(10, 60), z_max, rng.uniform(60, 130)):
        for side in (1, -1):
            a = half + 0.5
            x0 = side * a
            top = rng.uniform(2.6, 3.4)
            w.box((x0 - 0.06, curb, z), (x0 + 0.06, top + 2.5, z + 0.12), POLE, M_METAL,
                  (0.3, 0.32, 0.3))  # fmt: skip
            state = float(rng.integers(3))
            for hx, hy in ((x0, top), (side * (a - 3.0), top + 2.0)):
                w.box((hx - 0.17, hy, z - 0.3), (hx + 0.17, hy + 0.95, z), LIGHT, M_LIGHT,
                      (0.1, 0.1, 0.1), param=state)  # fmt: skip
            arm_x = (x0, side * (a - 3.2))
            w.box((min(arm_x), top + 2.5, z), (max(arm_x), top + 2.62, z + 0.12), POLE,
                  M_METAL, (0.3, 0.32, 0.3))  # fmt: skip
    w.freeze()
    return w


# ----------------------------------------------------------------------------- ray casting


@dataclass(frozen=True)
class _Pose:
    x: float
    z: float
    yaw: float


def _rays(rig: StereoRig, yaw: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World ray directions with unit camera depth: DX, DZ per column and DY per row."""
    u = (np.arange(rig.width, dtype=np.float64) - rig.cx) / rig.focal
    v = (np.arange(rig.height, dtype=np.float64) - rig.cy) / rig.focal
    c, s = math.cos(yaw), math.sin(yaw)
    return (c * u + s).astype(np.float32), (-v).astype(np.float32), (-s * u + c).astype(np.float32)


def _inv(a: np.ndarray) -> np.ndarray:
    return (1.0 / np.where(np.abs(a) < 1e-12, 1e-12, a)).astype(a.dtype)


def _screen_rects(w: _World, rig: StereoRig, origin: np.ndarray, yaw: float) -> np.ndarray:
    """Conservative pixel rectangles (r0, r1, c0, c1) of every primitive; r1 = 0 when culled."""
    lo, hi = w.lo_a[1:], w.hi_a[1:]
    corners = np.stack(
        [np.stack([(hi if i & 1 else lo)[:, 0], (hi if i & 2 else lo)[:, 1],
                   (hi if i & 4 else lo)[:, 2]], -1) for i in range(8)], 1,
    ) - origin  # fmt: skip
    c, s = math.cos(yaw), math.sin(yaw)
    cam = np.stack(
        [c * corners[..., 0] - s * corners[..., 2], -corners[..., 1],
         s * corners[..., 0] + c * corners[..., 2]], -1,
    )  # fmt: skip
    edges = [(a, a | b) for a in range(8) for b in (1, 2, 4) if not a & b]
    p0, p1 = cam[:, [e[0] for e in edges]], cam[:, [e[1] for e in edges]]
    z0, z1 = p0[..., 2], p1[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (_NEAR - z0) / (z1 - z0)
    crossing = (z0 - _NEAR) * (z1 - _NEAR) < 0
    cut = p0 + np.where(crossing, t, 0)[..., None] * (p1 - p0)
    pts = np.concatenate([cam, cut], 1)
    ok = np.concatenate([cam[..., 2] >= _NEAR, crossing], 1)
    z = np.where(ok, pts[..., 2], 1.0)
    u = np.where(ok, rig.cx + rig.focal * pts[..., 0] / z, np.nan)
    v = np.where(ok, rig.cy + rig.focal * pts[..., 1] / z, np.nan)
    rects = np.zeros((len(lo), 4), np.int64)
    any_ok = ok.any(1)
    with np.errstate(all="ignore"):
        umin, umax = np.nanmin(u[any_ok], 1), np.nanmax(u[any_ok], 1)
        vmin, vmax = np.nanmin(v[any_ok], 1), np.nanmax(v[any_ok], 1)
    rects[any_ok, 0] = np.clip(np.floor(vmin), 0, rig.height)
    rects[any_ok, 1] = np.clip(np.ceil(vmax) + 1, 0, rig.height)
    rects[any_ok, 2] = np.clip(np.floor(umin), 0, rig.width)
    rects[any_ok, 3] = np.clip(np.ceil(umax) + 1, 0, rig.width)
    empty = (rects[:, 1] <= rects[:, 0]) | (rects[:, 3] <= rects[:, 2])
    rects[empty] = 0
    return rects


def _alpha_keep(kind: int, lo, hi, face, px, py, pz, param: float) -> np.ndarray:
    """Which hits on a thin cut-out box are solid (fence slats, round sign, bicycle frame)."""
    if kind == A_SLATS:
        along = np.where(face == 2, 0.0, pz)
        slat = ((along - lo[2]) / param) % 1.0 < 0.62
        rail = (np.abs(py - hi[1] + 0.12) < 0.06) | (np.abs(py - lo[1] - 0.3) < 0.06)
        return slat | rail | (face != 0)
    if kind == A_DISC:
        cx, cy = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
        r = (hi[0] - lo[0]) / 2
        if param == 1:  # diamond
            return np.abs(px - cx) + np.abs(py - cy) < r
        return (px - cx) ** 2 + (py - cy) ** 2 < r * r
    if kind == A_BIKE:
        s, t = pz - lo[2], py - lo[1]
        keep = np.zeros(s.shape, bool)
        for hub in (0.36, 1.39):
            d = np.hypot(s - hub, t - 0.35)
            keep |= (np.abs(d - 0.31) < 0.035) | (d < 0.04)
        joints = {"rear": (0.36, 0.35), "crank": (0.8, 0.33), "seat": (0.7, 0.85),
                  "head": (1.25, 0.88), "front": (1.39, 0.35), "bar": (1.22, 1.0)}  # fmt: skip
        for a, b in (("rear", "crank"), ("rear", "seat"), ("crank", "seat"), ("crank", "head"),
                     ("seat", "head"), ("head", "front"), ("head", "bar")):  # fmt: skip
            (ax, ay), (bx, by) = joints[a], joints[b]
            dx, dy = bx - ax, by - ay
            k = np.clip(((s - ax) * dx + (t - ay) * dy) / (dx * dx + dy * dy), 0, 1)
            keep |= np.hypot(s - ax - k * dx, t - ay - k * dy) < 0.025
        seat = (np.abs(t - 0.88) < 0.03) & (np.abs(s - 0.7) < 0.1)
        return keep | seat | ((face == 2) & ((t < 0.68) | (t > 0.82)))
    return np.ones(np.shape(px), bool)


def _raycast(w: _World, rig: StereoRig, origin: np.ndarray, yaw: float):
    """Nearest hit per pixel: camera depth, primitive index (-1 sky) and face (0 x,1 y,2 z,3)."""
    dx, dy, dz = _rays(rig, yaw)
    ix, iy, iz = _inv(dx), _inv(dy), _inv(dz)
    h, wd = rig.height, rig.width
    depth = np.full((h, wd), np.inf, np.float32)
    prim = np.full((h, wd), -1, np.int32)
    face = np.zeros((h, wd), np.int8)
    t_ground = -origin[1] * iy
    rows = (dy < 0) & (t_ground > _NEAR)
    depth[rows] = t_ground[rows, None]
    prim[rows] = 0
    face[rows] = 1
    rects = _screen_rects(w, rig, origin, yaw)
    area = (rects[:, 1] - rects[:, 0]) * (rects[:, 3] - rects[:, 2])
    visible = area > 0
    batch = visible & (area <= _BATCH_AREA) & (w.alpha_a[1:] == A_NONE)
    for i in np.nonzero(visible & ~batch)[0]:
        r0, r1, c0, c1 = rects[i]
        k = i + 1
        lo, hi = w.lo_a[k] - origin, w.hi_a[k] - origin
        d_sub, p_sub, f_sub = depth[r0:r1, c0:c1], prim[r0:r1, c0:c1], face[r0:r1, c0:c1]
        if w.ell_a[k]:
            o = (-(lo + hi) / (hi - lo)).tolist()
            rad = ((hi - lo) / 2).tolist()
            ex, ez = dx[c0:c1] / rad[0], dz[c0:c1] / rad[2]
            ey = dy[r0:r1, None] / rad[1]
            a = (ex * ex + ez * ez)[None, :] + ey * ey
            b = 2 * ((o[0] * ex + o[2] * ez)[None, :] + o[1] * ey)
            disc = b * b - 4 * a * (o[0] ** 2 + o[1] ** 2 + o[2] ** 2 - 1)
            with np.errstate(invalid="ignore"):
                t_near = (-b - np.sqrt(disc)) / (2 * a)
            hit = (disc > 0) & (t_near > _NEAR) & (t_near < d_sub)
            fc = 3
        else:
            tx0, tx1 = np.float32(lo[0]) * ix[c0:c1], np.float32(hi[0]) * ix[c0:c1]
            tz0, tz1 = np.float32(lo[2]) * iz[c0:c1], np.float32(hi[2]) * iz[c0:c1]
            ty0, ty1 = np.float32(lo[1]) * iy[r0:r1], np.float32(hi[1]) * iy[r0:r1]
            txn, tzn = np.minimum(tx0, tx1), np.minimum(tz0, tz1)
            col_n = np.maximum(txn, tzn)
            col_f = np.minimum(np.maximum(tx0, tx1), np.maximum(tz0, tz1))
            row_n = np.minimum(ty0, ty1)[:, None]
            row_f = np.maximum(ty0, ty1)[:, None]
            t_near = np.maximum(row_n, col_n[None, :])
            hit = (t_near <= np.minimum(row_f, col_f[None, :])) & (t_near > _NEAR)
            hit &= t_near < d_sub
            fc = np.where(row_n >= col_n[None, :], 1, np.where(txn >= tzn, 0, 2)[None, :])
            fc = np.broadcast_to(fc, hit.shape)
            if w.alpha_a[k] != A_NONE and hit.any():
                rr, cc = np.nonzero(hit)
                t = t_near[rr, cc]
                keep = _alpha_keep(
                    int(w.alpha_a[k]), w.lo_a[k], w.hi_a[k], fc[rr, cc],
                    origin[0] + t * dx[c0 + cc], origin[1] + t * dy[r0 + rr],
                    origin[2] + t * dz[c0 + cc], float(w.param_a[k]),
                )  # fmt: skip
                hit[rr[~keep], cc[~keep]] = False
        d_sub[hit] = t_near[hit]
        p_sub[hit] = k
        f_sub[hit] = fc if np.isscalar(fc) else fc[hit]
    if batch.any():
        _cast_batch(w, np.nonzero(batch)[0], rects[batch], origin, (dx, dy, dz), depth, prim, face)
    return depth, prim, face, (dx, dy, dz)


def _cast_batch(w: _World, idx, rects, origin, rays, depth, prim, face) -> None:
    """Ray-cast many small primitives at once: one (pixel, primitive) pair per array entry.

    Python overhead per primitive dominates for the hundreds of distant objects a few pixels
    wide, so their rectangles are flattened into pair lists and tested together.
    """
    dx, dy, dz = rays
    r0, c0 = rects[:, 0], rects[:, 2]
    width = rects[:, 3] - c0
    area = (rects[:, 1] - r0) * width
    owner = np.repeat(np.arange(len(idx)), area)
    off = np.arange(owner.size) - np.repeat(np.cumsum(area) - area, area)
    rr = r0[owner] + off // width[owner]
    cc = c0[owner] + off % width[owner]
    k = idx[owner] + 1
    lo = (w.lo_a[k] - origin).astype(np.float32)
    hi = (w.hi_a[k] - origin).astype(np.float32)
    ray = np.stack([dx[cc], dy[rr], dz[cc]], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = _inv(ray)
        ta, tb = lo * inv, hi * inv
        tmin = np.minimum(ta, tb)
        t_near = tmin.max(1)
        t_far = np.maximum(ta, tb).min(1)
        hit = t_near <= t_far
        fc = np.argmax(tmin, 1).astype(np.int8)
        ell = w.ell_a[k]
        if ell.any():
            rad = (hi[ell] - lo[ell]) / 2
            o, e = -(lo[ell] + hi[ell]) / (2 * rad), ray[ell] / rad
            a = (e * e).sum(1)
            b = 2 * (o * e).sum(1)
            disc = b * b - 4 * a * ((o * o).sum(1) - 1)
            t_near[ell] = (-b - np.sqrt(disc)) / (2 * a)
            hit[ell] = disc > 0
            fc[ell] = 3
    hit &= (t_near > _NEAR) & (t_near < depth[rr, cc])
    order = np.nonzero(hit)[0]
    order = order[np.argsort(-t_near[order], kind="stable")]  # nearest written last
    depth[rr[order], cc[order]] = t_near[order]
    prim[rr[order], cc[order]] = k[order]
    face[rr[order], cc[order]] = fc[order]


# ----------------------------------------------------------------------------- shading


def _shade(w: _World, rig: StereoRig, origin, depth, prim, face, rays) -> np.ndarray:
    """Colour every pixel from its hit point, surface, material and object parameters."""
    dxc, dyr, dzc = (np.asarray(r, np.float32) for r in rays)
    origin = np.asarray(origin, np.float32)
    h, wd = depth.shape
    img = np.empty((h * wd, 3), np.float32)
    pf, ff, df = prim.ravel(), face.ravel(), depth.ravel().astype(np.float32)
    rows, cols = _pixel_grid(h, wd)
    sky = pf < 0
    if sky.any():
        img[sky] = _shade_sky(w, rig, dxc[cols[sky]], dyr[rows[sky]], dzc[cols[sky]])
    mats = w.mat_lut[pf + 1]
    order = np.argsort(mats, kind="stable")
    bounds = np.searchsorted(mats[order], np.arange(-1, M_CARGO + 2))
    for m in range(M_CARGO + 1):
        idx = order[bounds[m + 1] : bounds[m + 2]]
        if idx.size == 0:
            continue
        k = pf[idx]
        t = df[idx]
        ddx, ddy, ddz = dxc[cols[idx]], dyr[rows[idx]], dzc[cols[idx]]
        px, py, pz = origin[0] + t * ddx, origin[1] + t * ddy, origin[2] + t * ddz
        fc = ff[idx]
        normal = np.zeros((idx.size, 3), np.float32)
        flat = np.nonzero(fc < 3)[0]
        axis = fc[flat]
        comp = np.where(axis == 0, ddx[flat], np.where(axis == 1, ddy[flat], ddz[flat]))
        normal[flat, axis] = -np.sign(comp)
        curved = np.nonzero(fc == 3)[0]
        if curved.size:
            lo, hi = w.lo_f[k[curved]], w.hi_f[k[curved]]
            rad = (hi - lo) / 2
            n = (np.stack([px, py, pz], 1)[curved] - (lo + hi) / 2) / rad**2
            normal[curved] = n / np.linalg.norm(n, axis=1, keepdims=True)
        dnorm = np.sqrt(ddx**2 + ddy**2 + ddz**2)
        cos_view = np.abs(normal[:, 0] * ddx + normal[:, 1] * ddy + normal[:, 2] * ddz) / dnorm
        footprint = t * dnorm / rig.focal / np.maximum(cos_view, 0.15)
        # Surface coordinates in metres, following the face.
        s = np.where(fc == 0, pz, px) + np.where(fc == 3, pz, 0.0)
        v = np.where(fc == 1, pz, py)
        ctx = _Surface(w, k, fc, px, py, pz, s, v, footprint, normal)
        albedo = _MATERIALS[m](ctx)
        light = 0.45 + 0.65 * np.clip(normal @ w.sun.astype(np.float32), 0, None)
        img[idx] = albedo * light[:, None].astype(np.float32)
    return img.reshape(h, wd, 3)


@dataclass
class _Surface:
    w: _World
    k: np.ndarray
    face: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    s: np.ndarray
    v: np.ndarray
    footprint: np.ndarray
    normal: np.ndarray

    @property
    def base(self) -> np.ndarray:
        return self.w.color_a[self.k]

    @property
    def param(self) -> np.ndarray:
        return self.w.param_a[self.k]

    def noise(self, kind: int, scale: float, s=None, v=None) -> np.ndarray:
        s = self.s if s is None else s
        v = self.v if v is None else v
        return _noise(kind, s, v, scale, self.footprint)[:, None]

    def rel(self, axis: int) -> np.ndarray:
        """Coordinate along ``axis`` relative to the primitive's low corner."""
        return (self.x, self.y, self.z)[axis] - self.w.lo_f[self.k, axis]


def _mix(a: np.ndarray, b, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[:, None], b, a)


def _aa(footprint: np.ndarray, size: float) -> np.ndarray:
    """Fade patterns finer than about two pixels to their mean (a poor man's mip level)."""
    return np.clip(size / (2.0 * footprint) - 0.5, 0.0, 1.0)[:, None]


def _m_road(c: _Surface) -> np.ndarray:
    w = c.w
    tone = w.road_tone * (1 + 0.35 * c.noise(0, 40) + 0.25 * c.noise(1, 3))
    col = np.repeat(tone, 3, 1) * np.array([1.0, 1.0, 1.04], np.float32)
    x, z = c.x, c.z
    half = w.road_half
    outside = np.abs(x) > half
    col = _mix(col, np.array([0.35, 0.45, 0.18]) * (1 + 0.3 * c.noise(0, 20)), outside)
    lanes = np.arange(-w.lanes + 1, w.lanes) * w.lane_width
    mark = np.zeros(x.shape, bool)
    for lx in lanes:
        dash = (z % 9.0) < 3.0 if lx != 0 else np.ones(z.shape, bool)
        mark |= (np.abs(x - lx) < 0.07) & dash
    edge = w.lanes * w.lane_width + 0.15
    mark |= (np.abs(np.abs(x) - edge) < 0.08) & ~outside
    paint = 0.85 * (1 + 0.1 * c.noise(0, 40))
    blend = _aa(c.footprint, 0.15) * mark[:, None]
    return col * (1 - blend) + paint * blend


def _m_paving(c: _Surface) -> np.ndarray:
    size = c.w.paving_size
    top = c.face == 1
    gx, gz = np.floor(c.x / size), np.floor(c.z / size)
    grout = ((c.x / size) % 1 < 0.07) | ((c.z / size) % 1 < 0.07)
    tile = 0.9 + 0.2 * _hash01(gx, gz)[:, None]
    g = _aa(c.footprint, size * 0.07) * grout[:, None]
    col = c.base * tile * (1 + 0.25 * c.noise(0, 50)) * (1 - 0.35 * g)
    curb = c.base * 1.1 * (1 + 0.3 * c.noise(0, 30))
    return _mix(col, curb, ~top)


def _m_facade(c: _Surface) -> np.ndarray:
    p = c.param[:, None]
    plaster = c.base * (1 + 0.18 * c.noise(1, 4) + 0.12 * c.noise(0, 30))
    along = c.s + p[:, 0] * 17
    spacing = 2.2 + 1.3 * p[:, 0]
    storey = 3.0 + 0.6 * ((p[:, 0] * 7) % 1)
    fs, fv = (along / spacing) % 1, (c.y / storey) % 1
    window = (np.abs(fs - 0.5) < 0.22) & (fv > 0.3) & (fv < 0.82) & (c.y > storey * 0.9)
    window &= c.face == 0
    shop = (c.y < storey * 0.85) & (c.y > 0.4) & (np.abs(fs - 0.5) < 0.38) & (p[:, 0] > 0.4)
    shop &= c.face == 0
    lit = _hash01(np.floor(along / spacing), np.floor(c.y / storey))[:, None]
    glass = np.array([0.18, 0.22, 0.28]) * (0.6 + 0.9 * lit) * (1 + 0.3 * c.noise(1, 6))
    frame = (np.abs(fs - 0.5) < 0.26) & (fv > 0.26) & (fv < 0.86) & (c.y > storey * 0.9)
    frame &= c.face == 0
    col = _mix(plaster, np.array([0.9, 0.9, 0.88]) * (1 + 0.1 * c.noise(0, 30)), frame)
    col = _mix(col, glass, window | shop)
    return col


def _m_wall(c: _Surface) -> np.ndarray:
    p = c.param[:, None]
    course = 0.25 + 0.3 * p[:, 0]
    row = np.floor(c.v / course)
    joint_v = (c.v / course) % 1 < 0.06
    joint_s = ((c.s / (2 * course) + 0.5 * (row % 2)) % 1) < 0.03
    block = 0.9 + 0.2 * _hash01(row, np.floor(c.s / (2 * course) + 0.5 * (row % 2)))[:, None]
    col = c.base * block * (1 + 0.2 * c.noise(0, 40) + 0.15 * c.noise(1, 2))
    j = _aa(c.footprint, course * 0.06) * (joint_v | joint_s)[:, None]
    return col * (1 - 0.4 * j)


def _m_fence(c: _Surface) -> np.ndarray:
    grain = c.noise(0, 30, s=c.s * 0.2, v=c.v * 4)
    return c.base * (1 + 0.3 * grain + 0.15 * c.noise(1, 3))


def _m_metal(c: _Surface) -> np.ndarray:
    return c.base * (1 + 0.15 * c.noise(0, 60) + 0.1 * c.noise(1, 5))


def _m_light(c: _Surface) -> np.ndarray:
    col = c.base * (1 + 0.2 * c.noise(0, 60))
    lo, hi = c.w.lo_f[c.k], c.w.hi_f[c.k]
    cx = (lo[:, 0] + hi[:, 0]) / 2
    front = c.face == 2
    state = c.param.astype(int)
    for slot, rgb in enumerate(((1.0, 0.15, 0.1), (1.0, 0.75, 0.1), (0.2, 1.0, 0.4))):
        cy = hi[:, 1] - (slot + 0.5) * (hi[:, 1] - lo[:, 1]) / 3
        lamp = front & ((c.x - cx) ** 2 + (c.y - cy) ** 2 < 0.11**2)
        on = state == 2 - slot
        col = _mix(col, np.array(rgb) * np.where(on, 1.0, 0.25)[:, None], lamp)
    return col


def _m_sign(c: _Surface) -> np.ndarray:
    lo, hi = c.w.lo_f[c.k], c.w.hi_f[c.k]
    cx, cy = (lo[:, 0] + hi[:, 0]) / 2, (lo[:, 1] + hi[:, 1]) / 2
    half = (hi[:, 0] - lo[:, 0]) / 2
    r = np.hypot(c.x - cx, c.y - cy) / half
    kind = c.param.astype(int)[:, None]
    red_ring = np.where((r > 0.72)[:, None], [0.8, 0.1, 0.1], [0.95, 0.95, 0.95])
    diamond = np.where((r > 0.6)[:, None], [0.95, 0.95, 0.95], [0.95, 0.75, 0.1])
    inner = np.maximum(np.abs(c.x - cx), np.abs(c.y - cy)) < 0.55 * half
    square = np.where(inner[:, None], [0.9, 0.9, 0.9], [0.1, 0.35, 0.6])
    col = np.select([kind == 0, kind == 1], [red_ring, diamond], square)
    col = _mix(col, np.array([0.5, 0.5, 0.52]), c.normal[:, 2] > 0)
    return col * (1 + 0.1 * c.noise(0, 80))


def _m_leaves(c: _Surface) -> np.ndarray:
    hue = c.param[:, None]
    shade = 1 + 0.55 * c.noise(2, 9, s=c.s + 13 * hue[:, 0], v=c.v) + 0.25 * c.noise(1, 1.5)
    col = c.base * np.clip(shade, 0.2, None)
    return col + (hue - 0.5) * np.array([0.06, 0.03, 0.0])


def _m_bark(c: _Surface) -> np.ndarray:
    return c.base * (1 + 0.35 * c.noise(0, 25, s=c.s * 3, v=c.v * 0.4))


def _m_grass(c: _Surface) -> np.ndarray:
    col = c.base * (1 + 0.35 * c.noise(0, 35) + 0.25 * c.noise(1, 1.2))
    side = c.face != 1
    return _mix(col, c.base * 0.6 * (1 + 0.3 * c.noise(0, 30)), side)


def _m_paint(c: _Surface) -> np.ndarray:
    col = c.base * (1 + 0.07 * c.noise(0, 60) + 0.1 * c.noise(1, 4))
    y = c.rel(1)
    col = _mix(col, np.array([0.12, 0.12, 0.13]) * (1 + 0.2 * c.noise(0, 60)), y < 0.18)
    lo, hi = c.w.lo_f[c.k], c.w.hi_f[c.k]
    end = c.face == 2
    wx = hi[:, 0] - lo[:, 0]
    xr = (c.x - lo[:, 0]) / wx
    lamp = end & (y > 0.3) & (y < 0.5) & ((xr < 0.18) | (xr > 0.82))
    rear = (c.normal[:, 2] < 0) == (c.param > 0.5)
    lamp_col = np.where(rear[:, None], [0.75, 0.05, 0.05], [0.95, 0.92, 0.8])
    col = _mix(col, lamp_col, lamp)
    plate = end & (y > 0.22) & (y < 0.34) & (np.abs(xr - 0.5) < 0.14)
    return _mix(col, np.array([0.9, 0.9, 0.88]), plate)


def _m_glass(c: _Surface) -> np.ndarray:
    glass = np.array([0.12, 0.15, 0.2]) * (1 + 0.6 * c.rel(1)[:, None]) * (
        1 + 0.25 * c.noise(1, 5))  # fmt: skip
    roof = c.face == 1
    lo, hi = c.w.lo_f[c.k], c.w.hi_f[c.k]
    along = (c.z - lo[:, 2]) / (hi[:, 2] - lo[:, 2])
    pillar = (c.face == 0) & ((along < 0.08) | (along > 0.92) | (np.abs(along - 0.5) < 0.04))
    paint = c.base * (1 + 0.07 * c.noise(0, 60))
    return _mix(glass, paint, roof | pillar)


def _m_tyre(c: _Surface) -> np.ndarray:
    return c.base * (1 + 0.5 * c.noise(0, 50)) + 0.02


def _m_cloth(c: _Surface) -> np.ndarray:
    folds = 0.15 * c.noise(1, 6, s=c.s * 3 + 7 * c.param, v=c.v * 0.7)
    return c.base * (1 + 0.15 * c.noise(0, 90) + folds)


def _m_skin(c: _Surface) -> np.ndarray:
    hair = c.rel(1) > (c.w.hi_f[c.k, 1] - c.w.lo_f[c.k, 1]) * 0.72
    col = c.base * (1 + 0.08 * c.noise(0, 80))
    return _mix(col, np.array([0.1, 0.07, 0.05]) * (1 + 0.3 * c.noise(0, 80)), hair)


def _m_bike(c: _Surface) -> np.ndarray:
    t = c.rel(1)
    tyre = t < 0.68
    col = c.base * (1 + 0.1 * c.noise(0, 80))
    s = c.rel(2)
    rim = tyre & ((np.abs(np.hypot(s - 0.36, t - 0.35) - 0.31) < 0.035)
                  | (np.abs(np.hypot(s - 1.39, t - 0.35) - 0.31) < 0.035))  # fmt: skip
    return _mix(col, np.array([0.06, 0.06, 0.06]), rim)


def _m_bus(c: _Surface) -> np.ndarray:
    y = c.rel(1)
    col = c.base * (1 + 0.06 * c.noise(0, 60) + 0.08 * c.noise(1, 3))
    band = (y > 1.05) & (y < 2.35) & (c.face != 1)
    pane = band & ((c.s % 1.4) > 0.1)
    glass = np.array([0.1, 0.13, 0.17]) * (1 + 0.4 * c.noise(1, 5))
    col = _mix(col, glass, pane)
    col = _mix(col, np.array([0.15, 0.15, 0.15]), (y < 0.2))
    stripe = (y > 0.55) & (y < 0.75)
    return _mix(col, np.array([0.9, 0.9, 0.9]) * (1 + 0.05 * c.noise(0, 60)), stripe)


def _m_cargo(c: _Surface) -> np.ndarray:
    rib = _aa(c.footprint, 0.05) * ((c.s % 0.35) < 0.05)[:, None]
    col = c.base * (1 + 0.08 * c.noise(0, 50) + 0.12 * c.noise(1, 2)) * (1 - 0.2 * rib)
    y = c.rel(1)
    logo = (y > 1.2) & (y < 1.8) & (c.face == 0)
    logo_col = np.array([0.7, 0.2, 0.1]) * (c.param[:, None] > 0.5) + np.array(
        [0.1, 0.3, 0.6]) * (c.param[:, None] <= 0.5)  # fmt: skip
    return _mix(col, logo_col, logo)


_MATERIALS = (_m_road, _m_paving, _m_facade, _m_wall, _m_fence, _m_metal, _m_light, _m_sign,
              _m_leaves, _m_bark, _m_grass, _m_paint, _m_glass, _m_tyre, _m_cloth, _m_skin,
              _m_bike, _m_bus, _m_cargo)  # fmt: skip


def _shade_sky(w: _World, rig: StereoRig, dx, dy, dz) -> np.ndarray:
    """Sky colour from the ray direction only, so both views agree (it lies at infinity)."""
    horiz = np.sqrt(dx * dx + dz * dz)
    elev = np.clip(dy / horiz, 0, None)
    grad = np.clip(elev * 3.0, 0, 1)[:, None]
    col = (1 - grad) * np.array([0.85, 0.88, 0.92]) + grad * w.sky_tint
    up = np.maximum(elev, 0.02)
    s, t = dx / horiz / up, dz / horiz / up
    footprint = 1.0 / (rig.focal * up * up)
    cloud = np.clip(_noise(1, s, t, 2.0, footprint) + 0.2, 0, 1)[:, None]
    return (col * (1 - 0.7 * cloud) + 0.95 * 0.7 * cloud).astype(np.float32)


# ----------------------------------------------------------------------------- frames


def _to_uint8(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quantize with a little sensor noise (independent in the two views, as in a camera)."""
    noisy = img * np.float32(255.0)
    noisy += rng.integers(0, 5, img.shape, dtype=np.uint8)
    noisy -= np.float32(1.5)
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)


@lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pixel in raveled order."""
    rows = np.repeat(np.arange(height, dtype=np.int32), width)
    cols = np.tile(np.arange(width, dtype=np.int32), height)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def _render_pose(
    w: _World, rig: StereoRig, pose: _Pose, seed: int, index: int, timestamp: float
) -> SyntheticFrame:
    origin = np.array([pose.x, rig.camera_height, pose.z])
    depth, prim, face, rays = _raycast(w, rig, origin, pose.yaw)
    left = _shade(w, rig, origin, depth, prim, face, rays)
    shift = rig.baseline * np.array([math.cos(pose.yaw), 0.0, -math.sin(pose.yaw)])
    r_depth, r_prim, r_face, r_rays = _raycast(w, rig, origin + shift, pose.yaw)
    right = _shade(w, rig, origin + shift, r_depth, r_prim, r_face, r_rays)
    noise_rng = np.random.default_rng([seed, index, 0xC0FFEE])
    train_ids = np.where(prim < 0, SKY, w.cls_a[np.maximum(prim, 0)]).astype(np.uint8)
    ground = prim == 0
    if ground.any():
        dx = rays[0][None, :]
        px = origin[0] + depth * dx
        train_ids[ground & (np.abs(px) > w.road_half)] = TERRAIN
    valid = np.isfinite(depth)
    depth32 = np.where(valid, depth, 0).astype(np.float32)
    disparity = np.zeros_like(depth32)
    disparity[valid] = (rig.focal * rig.baseline / depth[valid]).astype(np.float32)
    return SyntheticFrame(
        left=_to_uint8(left, noise_rng),
        right=_to_uint8(right, noise_rng),
        train_ids=train_ids,
        label_ids=TRAIN_TO_LABEL_ID[train_ids],
        disparity=disparity,
        depth=depth32,
        rig=rig,
        timestamp=timestamp,
        index=index,
        seed=seed,
    )


def render_frame(seed: int, rig: StereoRig = KITTI_RIG) -> SyntheticFrame:
    """Render one stereo frame of the street of ``seed`` (same seed, same frame).

    Args:
        seed: World and viewpoint seed (see ``SPLIT_SEEDS``).
        rig: The stereo rig; any size.

    Returns:
        The frame with exact left-view labels, depth and disparity.
    """
    world = _build_world(seed, -40.0, 320.0, clear=(0.0, 0.0))
    rng = np.random.default_rng([seed, 0xF4A3E])
    pose = _Pose(world.ego_x + rng.uniform(-0.4, 0.4), 0.0, math.radians(rng.uniform(-4, 4)))
    return _render_pose(world, rig, pose, seed, 0, SYNTHETIC_EPOCH)


def drive_poses(seed: int, num_frames: int, fps: float, ego_x: float) -> list[_Pose]:
    """A smooth forward drive with gentle turns (yaw swings of a few degrees)."""
    rng = np.random.default_rng([seed, 0xD21E])
    speed = rng.uniform(6.0, 12.0)
    amp, period, phase = (
        math.radians(rng.uniform(0.5, 2.0)),
        rng.uniform(8, 16),
        rng.uniform(0, 2 * math.pi),
    )
    dt = 1.0 / fps
    poses, x, z = [], ego_x, 0.0
    for i in range(num_frames):
        yaw = amp * math.sin(2 * math.pi * i * dt / period + phase)
        poses.append(_Pose(x, z, yaw))
        x += speed * dt * math.sin(yaw)
        z += speed * dt * math.cos(yaw)
    return poses


def render_drive(
    seed: int, num_frames: int, rig: StereoRig = KITTI_RIG, fps: float = 10.0
) -> Iterator[SyntheticFrame]:
    """Render a drive through the street of ``seed``: the same world along the way.

    Yields:
        Frames with ``timestamp = SYNTHETIC_EPOCH + index / fps`` and ``index`` from 0.
    """
    if num_frames < 0 or not fps > 0:
        raise SyntheticError(f"need num_frames >= 0 and fps > 0, got {num_frames}, {fps}")
    max_len = 12.0 * num_frames / fps + 1.0  # drive_poses' top speed bounds the distance
    world = _build_world(seed, -40.0, max_len + 320.0, clear=(0.0, max_len))
    for i, pose in enumerate(drive_poses(seed, num_frames, fps, world.ego_x)):
        yield _render_pose(world, rig, pose, seed, i, SYNTHETIC_EPOCH + i / fps)
