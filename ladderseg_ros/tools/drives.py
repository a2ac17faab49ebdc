"""Stereo drives as ``StereoBagFrame`` sequences: KITTI raw, Cityscapes and synthetic.

Each source is a generator of ``StereoBagFrame`` that ``bags.write_stereo_bag`` writes
(``ladderseg bag``, the demo, the tests). Sources without
timestamps (Cityscapes) get stamps ``UNSTAMPED_EPOCH + index / fps``: a nonzero epoch,
because many ROS tools read a zero stamp as "unset" (synthetic drives do the same).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from ladderseg_ros.classes import CITYSCAPES
from ladderseg_ros.data.layouts import (
    CityscapesSample,
    KittiRawDrive,
    read_cityscapes_camera,
    read_cityscapes_disparity,
    read_kitti_raw_drive,
    read_png,
)
from ladderseg_ros.data.synthetic import RIGS, render_drive
from ladderseg_ros.io.bags import BagError, StereoBagFrame, stamp_ns, stereo_projections

LOG = logging.getLogger(__name__)

UNSTAMPED_EPOCH = 1_600_000_000.0  # s; stamp of frame 0 of sources without timestamps


def kitti_frames(
    drive_dir: str | Path, max_frames: int | None = None, drive: KittiRawDrive | None = None
) -> Iterator[StereoBagFrame]:
    """Frames of a KITTI raw drive (image_02/image_03, timestamps, P_rect_02/03 as given).

    ``drive``: the drive already read by ``layouts.read_kitti_raw_drive`` (read once).
    Stamps are the drive's exact integer nanoseconds.

    Raises:
        LadderSegError: The drive's layout, images or calibration are missing or malformed.
    """
    if drive is None:
        drive = read_kitti_raw_drive(drive_dir)
    count = len(drive.left) if max_frames is None else min(max_frames, len(drive.left))
    for left_path, right_path, t in zip(
        drive.left[:count], drive.right[:count], drive.timestamps_ns[:count], strict=True
    ):
        left = read_png(left_path)
        right = read_png(right_path)
        if left.shape != right.shape:
            raise BagError(f"{left_path} is {left.shape[:2]} but {right_path} is {right.shape[:2]}")
        yield StereoBagFrame(
            stamp=t,
            left=left,
            p_left=drive.p_left,
            right=right,
            p_right=drive.p_right,
        )


def cityscapes_frames(
    samples: Sequence[CityscapesSample],
    fps: float = 10.0,
    disparity: bool = True,
    labels: bool = True,
) -> Iterator[StereoBagFrame]:
    """Frames of Cityscapes samples (``layouts.cityscapes_samples``), one every 1/fps s.

    CameraInfos come from each frame's camera JSON (right Tx = -fx * baseline); disparity
    PNGs become DisparityImages and gtFine labelIds become trainIds, when present and wanted.

    Raises:
        LadderSegError: A frame lacks its camera JSON, or a file does not read.
    """
    for index, sample in enumerate(samples):
        if sample.camera is None:
            raise BagError(f"{sample.left}: no camera/*_camera.json beside it for CameraInfo")
        calib = read_cityscapes_camera(sample.camera)
        p_left, p_right = stereo_projections(calib.fx, calib.fy, calib.u0, calib.v0, calib.baseline)
        left = read_png(sample.left)
        right = read_png(sample.right) if sample.right is not None else None
        disp = None
        if disparity and sample.disparity is not None:
            disp = read_cityscapes_disparity(sample.disparity)
        gt = None
        if labels and sample.label_ids is not None:
            gt = CITYSCAPES.to_train_ids(read_png(sample.label_ids, color=False))
        yield StereoBagFrame(
            stamp=stamp_ns(UNSTAMPED_EPOCH + index / fps),
            left=left,
            p_left=p_left,
            right=right,
            p_right=p_right,
            disparity=disp,
            semantic_gt=gt,
        )


def synthetic_frames(
    num_frames: int,
    seed: int = 0,
    preset: str = "kitti",
    size: tuple[int, int] | None = None,
    fps: float = 10.0,
) -> Iterator[StereoBagFrame]:
    """A rendered synthetic drive with exact disparity and ground truth (trainIds).

    Disparity 0 (sky, nothing to match) stays invalid in the DisparityImage.
    """
    if preset not in RIGS:
        raise BagError(f"synthetic preset {preset!r}: expected one of {sorted(RIGS)}")
    rig = RIGS[preset] if size is None else RIGS[preset].resized(*size)
    p_left, p_right = rig.projections()
    for frame in render_drive(seed, num_frames, rig, fps=fps):
        yield StereoBagFrame(
            stamp=stamp_ns(frame.timestamp),
            left=frame.left,
            p_left=p_left,
            right=frame.right,
            p_right=p_right,
            disparity=frame.disparity,
            semantic_gt=frame.train_ids,
        )
