"""``ladderseg bag``: KITTI raw drives, Cityscapes splits and synthetic drives to rosbag2.

Each source is a generator of ``StereoBagFrame`` (usable from Python, e.g. by the demo);
the subcommands write them with ``write_stereo_bag`` behind a progress bar. Sources without
timestamps (Cityscapes) get stamps ``UNSTAMPED_EPOCH + index / fps``: a nonzero epoch,
because many ROS tools read a zero stamp as "unset" (synthetic drives do the same).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ladderseg_ros.cli import parse_size, positive_float, positive_int
from ladderseg_ros.tools.bags import STORAGES, BagError, StereoBagFrame, stamp_ns

if TYPE_CHECKING:
    from ladderseg_ros.data.layouts import CityscapesSample, KittiRawDrive

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
    from ladderseg_ros.data.layouts import read_kitti_raw_drive, read_png

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
    from ladderseg_ros.classes import CITYSCAPES
    from ladderseg_ros.data.layouts import (
        read_cityscapes_camera,
        read_cityscapes_disparity,
        read_png,
    )
    from ladderseg_ros.tools.bags import stereo_projections

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
    from ladderseg_ros.data.synthetic import RIGS, render_drive

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


def _write(
    out: Path, frames: Iterable[StereoBagFrame], total: int | None, storage: str, desc: str
) -> int:
    from tqdm import tqdm

    from ladderseg_ros.tools.bags import write_stereo_bag

    with tqdm(total=total, unit="frame", desc=desc) as bar:

        def counted() -> Iterator[StereoBagFrame]:
            for frame in frames:
                yield frame
                bar.update(1)

        count = write_stereo_bag(out, counted(), storage)
    print(f"wrote {out} ({count} frames, {storage})")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="new rosbag2 directory (never overwritten)")
    parser.add_argument(
        "--storage", choices=STORAGES, default="sqlite3", help="storage plugin (default sqlite3)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bag",
        help="convert KITTI raw, Cityscapes or a synthetic drive to a rosbag2; check a bag",
        description=(
            "Write stereo rosbag2 files (metadata version 8, playable on Humble and Jazzy) "
            "with /stereo/{left,right}/image_rect, camera_info, /stereo/disparity and "
            "/stereo/left/semantic_gt where the source has them. No ROS install needed."
        ),
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)

    kitti = sources.add_parser(
        "from-kitti",
        help="a KITTI raw drive (image_02/image_03, timestamps, calib_cam_to_cam.txt)",
        description="Convert {date}/{date}_drive_NNNN_sync (calibration one level up).",
    )
    kitti.add_argument("drive_dir", type=Path, help="the *_sync drive directory")
    _common(kitti)
    kitti.add_argument("--max-frames", type=positive_int, default=None, help="first N frames")
    kitti.set_defaults(func=_run_kitti)

    city = sources.add_parser(
        "from-cityscapes",
        help="a Cityscapes split (left/right images, camera JSON, disparity, gtFine)",
        description="Convert leftImg8bit/SPLIT (with rightImg8bit, camera, disparity, gtFine).",
    )
    city.add_argument("root", type=Path, help="Cityscapes root (holds leftImg8bit/)")
    city.add_argument("--split", default="val", help="split (default val)")
    city.add_argument("--city", action="append", default=None, help="only this city (repeatable)")
    _common(city)
    city.add_argument("--fps", type=positive_float, default=10.0, help="frame rate of stamps")
    city.add_argument("--max-frames", type=positive_int, default=None, help="first N frames")
    city.add_argument("--no-disparity", action="store_true", help="leave the disparity PNGs out")
    city.add_argument("--no-labels", action="store_true", help="leave the gtFine labels out")
    city.set_defaults(func=_run_cityscapes)

    synth = sources.add_parser(
        "from-synthetic",
        help="a rendered synthetic drive with exact disparity and labels",
        description="Render a synthetic stereo drive (the package's procedural road world).",
    )
    _common(synth)
    synth.add_argument("--frames", type=positive_int, default=20, help="frames (default 20)")
    synth.add_argument("--seed", type=int, default=0, help="drive seed (default 0)")
    synth.add_argument(
        "--preset", choices=("kitti", "cityscapes"), default="kitti", help="camera rig"
    )
    synth.add_argument(
        "--size",
        type=parse_size,
        default=None,
        metavar="WxH",
        help="render size (default the rig's)",
    )
    synth.add_argument("--fps", type=positive_float, default=10.0, help="frame rate")
    synth.set_defaults(func=_run_synthetic)

    check = sources.add_parser(
        "check",
        help="read and decode every message of a bag; print topics, counts and duration",
        description=(
            "Verify a rosbag2 (sqlite3 or mcap) end to end: every message is read and "
            "deserialized. Prints each topic with its type and message count, and the "
            "duration; a truncated, unfinished or corrupted bag is a clear error (exit 2)."
        ),
    )
    check.add_argument("bag", type=Path, help="rosbag2 directory")
    check.set_defaults(func=_run_check)


def _run_kitti(args: argparse.Namespace) -> int:
    from ladderseg_ros.data.layouts import read_kitti_raw_drive

    drive = read_kitti_raw_drive(args.drive_dir)
    total = len(drive.left)
    if args.max_frames is not None:
        total = min(total, args.max_frames)
    frames = kitti_frames(args.drive_dir, args.max_frames, drive)
    return _write(args.out, frames, total, args.storage, "kitti")


def _run_cityscapes(args: argparse.Namespace) -> int:
    from ladderseg_ros.data.layouts import cityscapes_samples

    samples = cityscapes_samples(args.root, args.split, args.city)
    if args.max_frames is not None:
        samples = samples[: args.max_frames]
    frames = cityscapes_frames(
        samples, args.fps, disparity=not args.no_disparity, labels=not args.no_labels
    )
    return _write(args.out, frames, len(samples), args.storage, "cityscapes")


def _run_check(args: argparse.Namespace) -> int:
    from ladderseg_ros.tools.bags import BagReader, check_bag

    counts = check_bag(args.bag)  # decodes everything: raises BagError on damage
    with BagReader(args.bag) as bag:
        topics, duration = bag.topics, bag.duration
    width = max((len(t) for t in topics), default=0)
    for topic in sorted(topics):
        print(f"{topic:<{width}}  {topics[topic]:<32} {counts.get(topic, 0):>7} messages")
    print(f"{args.bag}: OK, {sum(counts.values())} messages over {duration / 1e9:.3f} s")
    return 0


def _run_synthetic(args: argparse.Namespace) -> int:
    frames = synthetic_frames(args.frames, args.seed, args.preset, args.size, args.fps)
    return _write(args.out, frames, args.frames, args.storage, "synthetic")


__all__ = [
    "UNSTAMPED_EPOCH",
    "cityscapes_frames",
    "kitti_frames",
    "register",
    "synthetic_frames",
]
