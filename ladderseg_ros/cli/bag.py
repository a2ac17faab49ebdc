"""``ladderseg bag``: KITTI raw drives, Cityscapes splits and synthetic drives to rosbag2.

The sources (``tools.drives``) are written with ``write_stereo_bag`` behind a progress bar;
``bag check`` reads and decodes every message of a bag.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path

from ladderseg_ros.cli.args import parse_size, positive_float, positive_int
from ladderseg_ros.data.layouts import cityscapes_samples, read_kitti_raw_drive
from ladderseg_ros.io.bags import (
    STORAGES,
    BagReader,
    StereoBagFrame,
    check_bag,
    write_stereo_bag,
)


def _write(
    out: Path, frames: Iterable[StereoBagFrame], total: int | None, storage: str, desc: str
) -> int:
    from tqdm import tqdm

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
    """Adds ``bag`` (from-kitti, from-cityscapes, from-synthetic, check) to the subcommands."""
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
    from ladderseg_ros.tools.drives import kitti_frames

    drive = read_kitti_raw_drive(args.drive_dir)
    total = len(drive.left)
    if args.max_frames is not None:
        total = min(total, args.max_frames)
    frames = kitti_frames(args.drive_dir, args.max_frames, drive)
    return _write(args.out, frames, total, args.storage, "kitti")


def _run_cityscapes(args: argparse.Namespace) -> int:
    from ladderseg_ros.tools.drives import cityscapes_frames

    samples = cityscapes_samples(args.root, args.split, args.city)
    if args.max_frames is not None:
        samples = samples[: args.max_frames]
    frames = cityscapes_frames(
        samples, args.fps, disparity=not args.no_disparity, labels=not args.no_labels
    )
    return _write(args.out, frames, len(samples), args.storage, "cityscapes")


def _run_check(args: argparse.Namespace) -> int:
    check = check_bag(args.bag)  # decodes everything: raises BagError on damage
    counts = check.counts
    with BagReader(args.bag) as bag:
        topics, duration = bag.topics, bag.duration
    width = max((len(t) for t in topics), default=0)
    for topic in sorted(topics):
        note = "  (not decoded: no definition of its type)" if topic in check.undecoded else ""
        print(f"{topic:<{width}}  {topics[topic]:<32} {counts.get(topic, 0):>7} messages{note}")
    print(f"{args.bag}: OK, {sum(counts.values())} messages over {duration / 1e9:.3f} s")
    return 0


def _run_synthetic(args: argparse.Namespace) -> int:
    from ladderseg_ros.tools.drives import synthetic_frames

    frames = synthetic_frames(args.frames, args.seed, args.preset, args.size, args.fps)
    return _write(args.out, frames, args.frames, args.storage, "synthetic")
