"""The synthetic world on disk: in the Cityscapes layout or the KITTI raw layout.

Cityscapes layout: one independent street per frame (seeds S, S+1, ...), written as
``synthetic_{seed mod 10**6:06d}_000019`` with exact disparity, camera JSON and gtFine labels.
KITTI raw layout: one drive of N frames through the street of seed S, with timestamps and
``calib_cam_to_cam.txt``. ``ladderseg synth`` is the command.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ladderseg_ros.classes import colorize
from ladderseg_ros.data import layouts
from ladderseg_ros.data.synthetic.render import render_drive, render_frame
from ladderseg_ros.data.synthetic.rig import StereoRig

log = logging.getLogger(__name__)

CITY = "synthetic"
KITTI_DATE = "2020_01_01"


def write_cityscapes(root: Path, split: str, rig: StereoRig, seeds: range) -> None:
    """One independent street per seed, in the Cityscapes layout."""
    for seed in seeds:
        frame = render_frame(seed, rig)
        layouts.write_cityscapes_sample(
            root, split, CITY, seed % 1_000_000, 19,
            left=frame.left, right=frame.right, disparity=frame.disparity,
            camera=rig.calib, camera_height=rig.camera_height,
            label_ids=frame.label_ids, color=colorize(frame.train_ids),
        )  # fmt: skip
        log.info("seed %d written", seed)


def write_kitti_drive(root: Path, rig: StereoRig, seed: int, frames: int, fps: float) -> Path:
    """One drive of ``frames`` frames in the KITTI raw layout; returns the drive directory."""
    drive_dir = layouts.kitti_raw_drive_dir(root, KITTI_DATE, seed % 10000)
    p_left, p_right = rig.projections()
    layouts.write_kitti_calib(
        root / KITTI_DATE / layouts.KITTI_CALIB_NAME, p_left, p_right, (rig.width, rig.height)
    )
    stamps = []
    for frame in render_drive(seed, frames, rig, fps):
        layouts.write_kitti_raw_frame(drive_dir, frame.index, frame.left, frame.right)
        stamps.append(frame.timestamp)
    layouts.write_kitti_timestamps(drive_dir, stamps)
    return drive_dir
