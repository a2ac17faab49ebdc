"""Ray casting: nearest primitive, camera depth and face per pixel of a level camera.

The rig has no pitch or roll, so a ray's world direction is a function of the column (x, z)
and the row (y) alone: the slab tests run on 1-D arrays and only their combination is 2-D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ladderseg_ros.data.synthetic.rig import NEAR, StereoRig
from ladderseg_ros.data.synthetic.world import A_BIKE, A_DISC, A_NONE, A_SLATS, World

Rays = tuple[np.ndarray, np.ndarray, np.ndarray]  # DX, DY, DZ of every pixel's ray

_BATCH_AREA = 300  # primitives covering fewer pixels are ray-cast in one batch


@dataclass(frozen=True)
class Pose:
    """Where the rig stands: ``x`` across and ``z`` along the road (m), ``yaw`` (rad)."""

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


def _screen_rects(w: World, rig: StereoRig, origin: np.ndarray, yaw: float) -> np.ndarray:
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
        t = (NEAR - z0) / (z1 - z0)
    crossing = (z0 - NEAR) * (z1 - NEAR) < 0
    cut = p0 + np.where(crossing, t, 0)[..., None] * (p1 - p0)
    pts = np.concatenate([cam, cut], 1)
    ok = np.concatenate([cam[..., 2] >= NEAR, crossing], 1)
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


def _alpha_keep(
    kind: int,
    lo: np.ndarray,
    hi: np.ndarray,
    face: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    param: float,
) -> np.ndarray:
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


def raycast(
    w: World, rig: StereoRig, origin: np.ndarray, yaw: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Rays]:
    """Nearest hit per pixel: camera depth, primitive index (-1 sky) and face (0 x,1 y,2 z,3).

    Returns:
        depth (H, W) float32 in metres (inf for sky), primitive (H, W) int32, face (H, W)
        int8, and the rays (DX, DZ per column, DY per row; unit camera depth).
    """
    dx, dy, dz = _rays(rig, yaw)
    ix, iy, iz = _inv(dx), _inv(dy), _inv(dz)
    h, wd = rig.height, rig.width
    depth = np.full((h, wd), np.inf, np.float32)
    prim = np.full((h, wd), -1, np.int32)
    face = np.zeros((h, wd), np.int8)
    t_ground = -origin[1] * iy
    rows = (dy < 0) & (t_ground > NEAR)
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
            hit = (disc > 0) & (t_near > NEAR) & (t_near < d_sub)
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
            hit = (t_near <= np.minimum(row_f, col_f[None, :])) & (t_near > NEAR)
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


def _cast_batch(
    w: World,
    idx: np.ndarray,
    rects: np.ndarray,
    origin: np.ndarray,
    rays: Rays,
    depth: np.ndarray,
    prim: np.ndarray,
    face: np.ndarray,
) -> None:
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
    hit &= (t_near > NEAR) & (t_near < depth[rr, cc])
    order = np.nonzero(hit)[0]
    order = order[np.argsort(-t_near[order], kind="stable")]  # nearest written last
    depth[rr[order], cc[order]] = t_near[order]
    prim[rr[order], cc[order]] = k[order]
    face[rr[order], cc[order]] = fc[order]
