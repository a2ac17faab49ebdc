"""Frames and drives: poses, left/right rendering, exact labels, depth and disparity."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ladderseg_ros.classes import TRAIN_TO_LABEL_ID
from ladderseg_ros.data.synthetic.raycast import Pose, raycast
from ladderseg_ros.data.synthetic.rig import KITTI_RIG, StereoRig, SyntheticError
from ladderseg_ros.data.synthetic.shading import shade, to_uint8
from ladderseg_ros.data.synthetic.world import SKY, TERRAIN, World, build_world

SPLIT_SEEDS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_100_000),
    "test": range(1_100_000, 1_200_000),
}
# Drives start at a fixed, nonzero epoch: a zero stamp means "unset" to many ROS tools.
SYNTHETIC_EPOCH = 1_600_000_000.0


@dataclass
class SyntheticFrame:
    """One rendered stereo frame with exact ground truth for the left view.

    ``disparity`` and ``depth`` are 0 where undefined (sky); ``right_depth`` is the right
    view's depth, alike.
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
    right_depth: np.ndarray | None = None


def _render_pose(
    w: World, rig: StereoRig, pose: Pose, seed: int, index: int, timestamp: float
) -> SyntheticFrame:
    origin = np.array([pose.x, rig.camera_height, pose.z])
    depth, prim, face, rays = raycast(w, rig, origin, pose.yaw)
    left = shade(w, rig, origin, depth, prim, face, rays)
    shift = rig.baseline * np.array([math.cos(pose.yaw), 0.0, -math.sin(pose.yaw)])
    r_depth, r_prim, r_face, r_rays = raycast(w, rig, origin + shift, pose.yaw)
    right = shade(w, rig, origin + shift, r_depth, r_prim, r_face, r_rays)
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
        left=to_uint8(left, noise_rng),
        right=to_uint8(right, noise_rng),
        train_ids=train_ids,
        label_ids=TRAIN_TO_LABEL_ID[train_ids],
        disparity=disparity,
        depth=depth32,
        rig=rig,
        timestamp=timestamp,
        index=index,
        seed=seed,
        right_depth=np.where(np.isfinite(r_depth), r_depth, 0).astype(np.float32),
    )


def render_frame(seed: int, rig: StereoRig = KITTI_RIG, density: float = 1.0) -> SyntheticFrame:
    """Render one stereo frame of the street of ``seed`` (same seed, same frame).

    Args:
        seed: World and viewpoint seed (see ``SPLIT_SEEDS``).
        rig: The stereo rig; any size.
        density: Factor on the street's traffic and pedestrians (``build_world``).

    Returns:
        The frame with exact left-view labels, depth and disparity.
    """
    world = build_world(seed, -40.0, 320.0, clear=(0.0, 0.0), density=density)
    rng = np.random.default_rng([seed, 0xF4A3E])
    pose = Pose(world.ego_x + rng.uniform(-0.4, 0.4), 0.0, math.radians(rng.uniform(-4, 4)))
    return _render_pose(world, rig, pose, seed, 0, SYNTHETIC_EPOCH)


def drive_poses(seed: int, num_frames: int, fps: float, ego_x: float) -> list[Pose]:
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
        poses.append(Pose(x, z, yaw))
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
    world = build_world(seed, -40.0, max_len + 320.0, clear=(0.0, max_len))
    for i, pose in enumerate(drive_poses(seed, num_frames, fps, world.ego_x)):
        yield _render_pose(world, rig, pose, seed, i, SYNTHETIC_EPOCH + i / fps)
