"""Shading: procedural, world-anchored textures per material, sun lighting, sky, sensor noise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.data.synthetic.rig import StereoRig
from ladderseg_ros.data.synthetic.world import M_CARGO, World

if TYPE_CHECKING:
    from ladderseg_ros.data.synthetic.raycast import Rays

_TILE = 128
_LEVELS = 7


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


def _noise(kind: int, s: np.ndarray, t: np.ndarray, scale: float, log_fp: np.ndarray) -> np.ndarray:
    """Sample noise tile ``kind`` at surface coordinates (s, t) metres, ``scale`` texels/m.

    ``log_fp`` is log2 of the pixel footprint in metres; it picks the blur level.
    """
    flat = _noise_stacks()[kind].reshape(-1)
    level = np.clip(log_fp + np.float32(math.log2(scale) + 0.5), 0, _LEVELS - 1).astype(np.int32)
    ix = np.floor(s * np.float32(scale)).astype(np.int32) & (_TILE - 1)
    iy = np.floor(t * np.float32(scale)).astype(np.int32) & (_TILE - 1)
    return flat[(level * _TILE + iy) * _TILE + ix]


def _hash01(*ints: np.ndarray) -> np.ndarray:
    """A cheap integer hash to [0, 1), for per-tile / per-window variation."""
    h = np.zeros(np.shape(ints[0]), np.uint32)
    for k, a in enumerate(ints):
        h ^= (np.asarray(a).astype(np.int64) * (0x9E3779B1 + 0x632BE5AB * k)).astype(np.uint32)
        h = (h ^ (h >> np.uint32(15))) * np.uint32(0x2C1B3C6D)
        h ^= h >> np.uint32(12)
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) / float(0x1000000)


def shade(
    w: World,
    rig: StereoRig,
    origin: np.ndarray,
    depth: np.ndarray,
    prim: np.ndarray,
    face: np.ndarray,
    rays: Rays,
) -> np.ndarray:
    """Colour every pixel from its hit point, surface, material and object parameters.

    Args:
        w: the street.
        rig: the camera that cast ``rays``.
        origin: the camera centre (x, y, z) in metres.
        depth: (H, W) camera depth of each hit in metres (inf: sky).
        prim: (H, W) primitive index of each hit (-1: sky).
        face: (H, W) face of each hit (``raycast``).
        rays: DX, DZ per column and DY per row (unit camera depth).

    Returns:
        (H, W, 3) float32 linear RGB.
    """
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
        # Flat faces: the normal is minus the sign of the ray's component along the face axis.
        comp = np.where(fc == 0, ddx, np.where(fc == 1, ddy, ddz))
        sign = -np.sign(comp)
        sun = w.sun.astype(np.float32)
        lambert = sign * np.where(fc == 0, sun[0], np.where(fc == 1, sun[1], sun[2]))
        dnorm = np.sqrt(ddx * ddx + ddy * ddy + ddz * ddz)
        cos_view = np.abs(comp) / dnorm
        normal_z = np.where(fc == 2, sign, 0).astype(np.float32)
        curved = np.nonzero(fc == 3)[0]
        if curved.size:
            lo, hi = w.lo_f[k[curved]], w.hi_f[k[curved]]
            rad = (hi - lo) / 2
            n = (np.stack([px[curved], py[curved], pz[curved]], 1) - (lo + hi) / 2) / rad**2
            n /= np.linalg.norm(n, axis=1, keepdims=True)
            lambert[curved] = n @ sun
            d = np.stack([ddx[curved], ddy[curved], ddz[curved]], 1)
            cos_view[curved] = np.abs((n * d).sum(1)) / dnorm[curved]
            normal_z[curved] = n[:, 2]
        footprint = t * dnorm / rig.focal / np.maximum(cos_view, 0.15)
        # Surface coordinates in metres, following the face.
        s = np.where(fc == 0, pz, px) + np.where(fc == 3, pz, 0.0)
        v = np.where(fc == 1, pz, py)
        ctx = _Surface(w, k, fc, px, py, pz, s, v, footprint, normal_z)
        light = 0.45 + 0.65 * np.maximum(lambert, 0)
        img[idx] = _MATERIALS[m](ctx) * light[:, None]
    return img.reshape(h, wd, 3)


@dataclass
class _Surface:
    w: World
    k: np.ndarray
    face: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    s: np.ndarray
    v: np.ndarray
    footprint: np.ndarray
    normal_z: np.ndarray

    def __post_init__(self) -> None:
        self.log_fp = np.log2(np.maximum(self.footprint, 1e-9))

    @property
    def base(self) -> np.ndarray:
        return self.w.color_a[self.k]

    @property
    def param(self) -> np.ndarray:
        return self.w.param_a[self.k]

    def noise(
        self, kind: int, scale: float, s: np.ndarray | None = None, v: np.ndarray | None = None
    ) -> np.ndarray:
        """Noise tile ``kind`` at ``scale`` texels/m, at (s, v) (default: the hits' own)."""
        s = self.s if s is None else s
        v = self.v if v is None else v
        return _noise(kind, s, v, scale, self.log_fp)[:, None]

    def noise_at(self, sel: np.ndarray, kind: int, scale: float) -> np.ndarray:
        """``noise`` on the pixels ``sel`` only."""
        return _noise(kind, self.s[sel], self.v[sel], scale, self.log_fp[sel])[:, None]

    def rel(self, axis: int) -> np.ndarray:
        """Coordinate along ``axis`` relative to the primitive's low corner."""
        return (self.x, self.y, self.z)[axis] - self.w.lo_f[self.k, axis]


def _rgb(*values: float) -> np.ndarray:
    """A float32 colour (or any small vector): keeps shading in float32."""
    return np.array(values, np.float32)


def _mix(a: np.ndarray, b: np.ndarray | float, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[:, None], b, a)


def _aa(footprint: np.ndarray, size: float) -> np.ndarray:
    """Fade patterns finer than about two pixels to their mean (a poor man's mip level)."""
    return np.clip(size / (2.0 * footprint) - 0.5, 0.0, 1.0)[:, None]


def _m_road(c: _Surface) -> np.ndarray:
    w = c.w
    tone = w.road_tone * (1 + 0.35 * c.noise(0, 40) + 0.25 * c.noise(1, 3))
    col = np.repeat(tone, 3, 1) * np.array(_rgb(1.0, 1.0, 1.04), np.float32)
    x, z = c.x, c.z
    half = w.road_half
    outside = np.abs(x) > half
    col = _mix(col, _rgb(0.35, 0.45, 0.18) * (1 + 0.3 * c.noise(0, 20)), outside)
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
    col = c.base * (1 + 0.18 * c.noise(1, 4) + 0.12 * c.noise(0, 30))
    front = np.nonzero(c.face == 0)[0]  # windows only on faces towards the street
    if front.size == 0:
        return col
    p, y = c.param[front], c.y[front]
    along = c.s[front] + p * 17
    spacing = 2.2 + 1.3 * p
    storey = 3.0 + 0.6 * ((p * 7) % 1)
    fs, fv = np.abs((along / spacing) % 1 - 0.5), (y / storey) % 1
    upper = y > storey * 0.9
    frame = front[(fs < 0.26) & (fv > 0.26) & (fv < 0.86) & upper]
    glass = (fs < 0.22) & (fv > 0.3) & (fv < 0.82) & upper
    glass |= (y < storey * 0.85) & (y > 0.4) & (fs < 0.38) & (p > 0.4)
    sel = np.nonzero(glass)[0]
    col[frame] = _rgb(0.9, 0.9, 0.88) * (1 + 0.1 * c.noise_at(frame, 0, 30))
    lit = _hash01(np.floor(along[sel] / spacing[sel]), np.floor(y[sel] / storey[sel]))
    col[front[sel]] = (
        _rgb(0.18, 0.22, 0.28)
        * (0.6 + 0.9 * lit)[:, None]
        * (1 + 0.3 * c.noise_at(front[sel], 1, 6))
    )
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
    red_ring = np.where((r > 0.72)[:, None], _rgb(0.8, 0.1, 0.1), _rgb(0.95, 0.95, 0.95))
    diamond = np.where((r > 0.6)[:, None], _rgb(0.95, 0.95, 0.95), _rgb(0.95, 0.75, 0.1))
    inner = np.maximum(np.abs(c.x - cx), np.abs(c.y - cy)) < 0.55 * half
    square = np.where(inner[:, None], _rgb(0.9, 0.9, 0.9), _rgb(0.1, 0.35, 0.6))
    col = np.select([kind == 0, kind == 1], [red_ring, diamond], square)
    col = _mix(col, _rgb(0.5, 0.5, 0.52), c.normal_z > 0)
    return col * (1 + 0.1 * c.noise(0, 80))


def _m_leaves(c: _Surface) -> np.ndarray:
    hue = c.param[:, None]
    shade = 1 + 0.55 * c.noise(2, 9, s=c.s + 13 * hue[:, 0], v=c.v) + 0.25 * c.noise(1, 1.5)
    col = c.base * np.clip(shade, 0.2, None)
    return col + (hue - 0.5) * _rgb(0.06, 0.03, 0.0)


def _m_bark(c: _Surface) -> np.ndarray:
    return c.base * (1 + 0.35 * c.noise(0, 25, s=c.s * 3, v=c.v * 0.4))


def _m_grass(c: _Surface) -> np.ndarray:
    col = c.base * (1 + 0.35 * c.noise(0, 35) + 0.25 * c.noise(1, 1.2))
    side = c.face != 1
    return _mix(col, c.base * 0.6 * (1 + 0.3 * c.noise(0, 30)), side)


def _m_paint(c: _Surface) -> np.ndarray:
    col = c.base * (1 + 0.07 * c.noise(0, 60) + 0.1 * c.noise(1, 4))
    y = c.rel(1)
    col = _mix(col, _rgb(0.12, 0.12, 0.13) * (1 + 0.2 * c.noise(0, 60)), y < 0.18)
    lo, hi = c.w.lo_f[c.k], c.w.hi_f[c.k]
    end = c.face == 2
    wx = hi[:, 0] - lo[:, 0]
    xr = (c.x - lo[:, 0]) / wx
    lamp = end & (y > 0.3) & (y < 0.5) & ((xr < 0.18) | (xr > 0.82))
    rear = (c.normal_z < 0) == (c.param > 0.5)
    lamp_col = np.where(rear[:, None], _rgb(0.75, 0.05, 0.05), _rgb(0.95, 0.92, 0.8))
    col = _mix(col, lamp_col, lamp)
    plate = end & (y > 0.22) & (y < 0.34) & (np.abs(xr - 0.5) < 0.14)
    return _mix(col, _rgb(0.9, 0.9, 0.88), plate)


def _m_glass(c: _Surface) -> np.ndarray:
    glass = _rgb(0.12, 0.15, 0.2) * (1 + 0.6 * c.rel(1)[:, None]) * (
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
    return _mix(col, _rgb(0.1, 0.07, 0.05) * (1 + 0.3 * c.noise(0, 80)), hair)


def _m_bike(c: _Surface) -> np.ndarray:
    t = c.rel(1)
    tyre = t < 0.68
    col = c.base * (1 + 0.1 * c.noise(0, 80))
    s = c.rel(2)
    rim = tyre & ((np.abs(np.hypot(s - 0.36, t - 0.35) - 0.31) < 0.035)
                  | (np.abs(np.hypot(s - 1.39, t - 0.35) - 0.31) < 0.035))  # fmt: skip
    return _mix(col, _rgb(0.06, 0.06, 0.06), rim)


def _m_bus(c: _Surface) -> np.ndarray:
    y = c.rel(1)
    col = c.base * (1 + 0.06 * c.noise(0, 60) + 0.08 * c.noise(1, 3))
    band = (y > 1.05) & (y < 2.35) & (c.face != 1)
    pane = band & ((c.s % 1.4) > 0.1)
    glass = _rgb(0.1, 0.13, 0.17) * (1 + 0.4 * c.noise(1, 5))
    col = _mix(col, glass, pane)
    col = _mix(col, _rgb(0.15, 0.15, 0.15), (y < 0.2))
    stripe = (y > 0.55) & (y < 0.75)
    return _mix(col, _rgb(0.9, 0.9, 0.9) * (1 + 0.05 * c.noise(0, 60)), stripe)


def _m_cargo(c: _Surface) -> np.ndarray:
    rib = _aa(c.footprint, 0.05) * ((c.s % 0.35) < 0.05)[:, None]
    col = c.base * (1 + 0.08 * c.noise(0, 50) + 0.12 * c.noise(1, 2)) * (1 - 0.2 * rib)
    y = c.rel(1)
    logo = (y > 1.2) & (y < 1.8) & (c.face == 0)
    logo_col = _rgb(0.7, 0.2, 0.1) * (c.param[:, None] > 0.5) + np.array(
        _rgb(0.1, 0.3, 0.6)) * (c.param[:, None] <= 0.5)  # fmt: skip
    return _mix(col, logo_col, logo)


_MATERIALS = (_m_road, _m_paving, _m_facade, _m_wall, _m_fence, _m_metal, _m_light, _m_sign,
              _m_leaves, _m_bark, _m_grass, _m_paint, _m_glass, _m_tyre, _m_cloth, _m_skin,
              _m_bike, _m_bus, _m_cargo)  # fmt: skip


def _shade_sky(
    w: World, rig: StereoRig, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
) -> np.ndarray:
    """Sky colour from the ray direction only, so both views agree (it lies at infinity)."""
    horiz = np.sqrt(dx * dx + dz * dz)
    elev = np.clip(dy / horiz, 0, None)
    grad = np.clip(elev * 3.0, 0, 1)[:, None]
    col = (1 - grad) * _rgb(0.85, 0.88, 0.92) + grad * w.sky_tint
    up = np.maximum(elev, 0.02)
    s, t = dx / horiz / up, dz / horiz / up
    footprint = 1.0 / (rig.focal * up * up)
    cloud = np.clip(_noise(1, s, t, 2.0, np.log2(footprint)) + 0.2, 0, 1)[:, None]
    return (col * (1 - 0.7 * cloud) + 0.95 * 0.7 * cloud).astype(np.float32)


def to_uint8(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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
