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

from ladderseg_ros.data.synthetic.render import (
    SPLIT_SEEDS,
    SYNTHETIC_EPOCH,
    SyntheticFrame,
    drive_poses,
    render_drive,
    render_frame,
)
from ladderseg_ros.data.synthetic.rig import (
    CITYSCAPES_RIG,
    KITTI_RIG,
    RIGS,
    StereoRig,
    SyntheticError,
)
from ladderseg_ros.data.synthetic.world import (
    BICYCLE,
    BUILDING,
    BUS,
    CAR,
    FENCE,
    LIGHT,
    MOTORCYCLE,
    PERSON,
    POLE,
    RIDER,
    ROAD,
    SIDEWALK,
    SIGN,
    SKY,
    TERRAIN,
    TRAIN,
    TRUCK,
    VEGETATION,
    WALL,
    WORLD_CLASSES,
)

__all__ = [
    "BICYCLE",
    "BUILDING",
    "BUS",
    "CAR",
    "CITYSCAPES_RIG",
    "FENCE",
    "KITTI_RIG",
    "LIGHT",
    "MOTORCYCLE",
    "PERSON",
    "POLE",
    "RIDER",
    "RIGS",
    "ROAD",
    "SIDEWALK",
    "SIGN",
    "SKY",
    "SPLIT_SEEDS",
    "SYNTHETIC_EPOCH",
    "TERRAIN",
    "TRAIN",
    "TRUCK",
    "VEGETATION",
    "WALL",
    "WORLD_CLASSES",
    "StereoRig",
    "SyntheticError",
    "SyntheticFrame",
    "drive_poses",
    "render_drive",
    "render_frame",
]
