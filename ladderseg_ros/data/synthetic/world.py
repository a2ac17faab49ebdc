"""The procedural street: primitives (boxes, ellipsoids) with class, material and colour."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

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

Vec3 = Sequence[float]  # a point in metres (x right, y up, z along the road)
Color = Sequence[float]  # linear RGB in 0..1


@dataclass
class World:
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

    def box(
        self,
        lo: Vec3,
        hi: Vec3,
        cls: int,
        mat: int,
        color: Color,
        alpha: int = A_NONE,
        param: float = 0.0,
        ell: bool = False,
    ) -> None:
        """Adds an axis-aligned box (an ellipsoid inside it when ``ell``) from ``lo`` to ``hi``.

        ``cls`` is its trainId, ``mat`` its material, ``alpha`` its cut-out test and
        ``param`` a per-primitive shading parameter.
        """
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


def _jitter(rng: np.random.Generator, base: Color, amount: float = 0.08) -> tuple:
    c = np.asarray(base, float) * rng.uniform(0.8, 1.15) + rng.uniform(-amount, amount, 3)
    return tuple(np.clip(c, 0.02, 0.98))


_FACADES = ((0.78, 0.72, 0.62), (0.62, 0.35, 0.28), (0.85, 0.84, 0.8), (0.55, 0.55, 0.56),
            (0.86, 0.76, 0.55), (0.7, 0.6, 0.52), (0.45, 0.42, 0.4))  # fmt: skip
_PAINTS = ((0.85, 0.85, 0.86), (0.08, 0.08, 0.09), (0.45, 0.46, 0.48), (0.6, 0.08, 0.07),
           (0.1, 0.2, 0.5), (0.7, 0.7, 0.72), (0.15, 0.3, 0.2), (0.8, 0.6, 0.1))  # fmt: skip
_CLOTHES = ((0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.6, 0.1, 0.1), (0.75, 0.75, 0.7),
            (0.35, 0.3, 0.25), (0.2, 0.4, 0.25), (0.8, 0.55, 0.2))  # fmt: skip
_SKIN = ((0.87, 0.68, 0.55), (0.62, 0.44, 0.32), (0.38, 0.26, 0.18))


def _add_person(
    w: World, rng: np.random.Generator, x: float, z: float, ground: float, cls: int = PERSON
) -> None:
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


def _add_bicycle(
    w: World, rng: np.random.Generator, x: float, z: float, ground: float, rider: bool
) -> None:
    color = _jitter(rng, _PAINTS[rng.integers(len(_PAINTS))])
    w.box((x - 0.03, ground, z), (x + 0.03, ground + 1.0, z + 1.75), BICYCLE, M_BIKE, color,
          alpha=A_BIKE)  # fmt: skip
    if rider:
        _add_person(w, rng, x, z + 0.8, ground + 0.35, cls=RIDER)


def _add_car(w: World, rng: np.random.Generator, x: float, z: float, heading: int) -> None:
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


def _add_big_vehicle(w: World, rng: np.random.Generator, x: float, z: float, bus: bool) -> None:
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


def _add_side(
    w: World,
    rng: np.random.Generator,
    side: int,
    z_min: float,
    z_max: float,
    curb: float,
    density: float = 1.0,
) -> None:
    """Sidewalk, facades, walls, fences, vegetation and street furniture along one road side.

    ``density`` scales how many people and parked bicycles stand on the sidewalk.
    """
    half = w.road_half
    sw = rng.uniform(2.0, 5.0)
    bx = functools.partial(_side_box, w, side)
    paving = _jitter(rng, (0.62, 0.6, 0.57), 0.04)
    grass = _jitter(rng, (0.35, 0.45, 0.18), 0.05)
    for z in np.arange(z_min, z_max, 12.0):
        bx(half, half + sw, 0, curb, z, z + 12.0, SIDEWALK, M_PAVING, paving)
        bx(half + sw, half + 70, 0, curb, z, z + 12.0, TERRAIN, M_GRASS, grass)
    # Facades: a front row at varying set-back, walls or fences in the gaps, and a back row.
    _add_front_row(w, rng, side, half + sw, curb, z_min, z_max)
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
        if rng.random() < 0.22 * density:
            _add_person(w, rng, side * (half + rng.uniform(0.8, sw - 0.4)), z, curb)
        elif rng.random() < 0.05 * density:
            _add_bicycle(w, rng, side * (half + sw - 0.4), z, curb, rider=False)


def _side_box(
    w: World,
    side: int,
    a: float,
    b: float,
    y0: float,
    y1: float,
    z0: float,
    z1: float,
    cls: int,
    mat: int,
    color: Color,
    **options: float,
) -> None:
    """A box ``a``..``b`` metres out from the road's centre on ``side`` (+1 right, -1 left)."""
    x0, x1 = (side * a, side * b) if side > 0 else (side * b, side * a)
    w.box((x0, y0, z0), (x1, y1, z1), cls, mat, color, **options)


def _add_front_row(
    w: World,
    rng: np.random.Generator,
    side: int,
    street: float,
    curb: float,
    z_min: float,
    z_max: float,
) -> None:
    """Facades at varying set-back from ``street`` (the sidewalk's outer edge).

    Walls, fences, trees and hedges fill the gaps.
    """
    bx = functools.partial(_side_box, w, side)
    z = z_min
    while z < z_max:
        width = rng.uniform(8, 30)
        kind = rng.random()
        front = street + (0.0 if rng.random() < 0.5 else rng.uniform(1, 9))
        if kind < 0.62:
            color = _jitter(rng, _FACADES[rng.integers(len(_FACADES))], 0.05)
            bx(front, front + rng.uniform(10, 18), 0, rng.uniform(6, 24), z, z + width,
               BUILDING, M_FACADE, color, param=rng.random())  # fmt: skip
        else:
            edge = street + rng.uniform(0.0, 1.0)
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


def _add_tree(w: World, rng: np.random.Generator, x: float, z: float, ground: float) -> None:
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


def build_world(
    seed: int, z_min: float, z_max: float, clear: tuple[float, float], density: float = 1.0
) -> World:
    """Generate the street of ``seed`` between z_min and z_max (metres along the road).

    The ego lane is kept free of vehicles between ``clear[0]`` and ``clear[1]``. ``density``
    scales traffic, parked cars, cyclists and pedestrians (1 = the default street; the same
    random draws either way, so only the counts change).
    """
    rng = np.random.default_rng([seed, 0x5EED])
    lanes = int(rng.choice([1, 1, 2]))
    lane_w = rng.uniform(3.0, 3.6)
    parking = 2.3 if rng.random() < 0.7 else 0.0
    half = lanes * lane_w + parking
    elevation, azimuth = rng.uniform(0.4, 1.1), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                    np.cos(elevation) * np.cos(azimuth)])  # fmt: skip
    w = World(
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
        _add_side(w, rng, side, z_min, z_max, curb, density)
    # Parked cars, traffic in both directions, trucks, buses, cyclists, crossing people.
    for side in (1, -1):
        if parking:
            z = z_min + rng.uniform(0, 5)
            while z < z_max:
                z += rng.uniform(4.8, 6.5)
                if rng.random() < 0.7 * density:
                    _add_car(w, rng, side * (half - 1.15), z, side)
    for lane in range(-lanes, lanes):
        x = (lane + 0.5) * lane_w
        z = z_min + rng.uniform(0, 20)
        while z < z_max:
            z += rng.uniform(10, 45) / density
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
        if rng.random() < 0.12 * density and not clear[0] - 3 < z < clear[1] + 6:
            _add_bicycle(w, rng, half - parking - 0.6, z, 0.0, rider=True)
        if rng.random() < 0.05 * density and not clear[0] - 3 < z < clear[1] + 6:
            _add_person(w, rng, rng.uniform(-half + 0.5, half - 0.5), z, 0.0)
    _add_traffic_lights(w, rng, half, curb, z_min, z_max)
    w.freeze()
    return w


def _add_traffic_lights(
    w: World, rng: np.random.Generator, half: float, curb: float, z_min: float, z_max: float
) -> None:
    """Traffic lights at intersections-to-be, on both curbs, facing the traffic."""
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
