"""``ladderseg synth``: write the synthetic world as Cityscapes or KITTI raw, or preview it.

``--preset`` picks the rig (KITTI or Cityscapes camera), ``--layout`` the file layout
(default: the preset's own); either rig writes in either layout, so labelled held-out
frames of both rigs exist in the Cityscapes layout.

Cityscapes layout: one independent street per frame (seeds S, S+1, ...), written as
``synthetic_{seed mod 10**6:06d}_000019`` with exact disparity, camera JSON and gtFine labels.
KITTI raw layout: one drive of N frames through the street of seed S, with timestamps and
``calib_cam_to_cam.txt``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ladderseg_ros.cli import parse_size
from ladderseg_ros.errors import LadderSegError

log = logging.getLogger(__name__)

CITY = "synthetic"
KITTI_DATE = "2020_01_01"


class SynthError(LadderSegError, ValueError):
    """A ``ladderseg synth`` argument is unusable."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="render the synthetic stereo world to disk (Cityscapes / KITTI raw layout)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        choices=("cityscapes", "kitti"),
        default="cityscapes",
        help="stereo rig (camera geometry)",
    )
    parser.add_argument(
        "--layout",
        choices=("cityscapes", "kitti"),
        help="file layout: cityscapes (labelled, one street per frame) or kitti "
        "raw (one drive, images and calibration); default: the preset's",
    )
    parser.add_argument("--frames", type=int, default=10, help="frames to write (default 10)")
    parser.add_argument("--out", type=Path, help="output directory (must be empty or absent)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train")
    parser.add_argument("--seed", type=int, help="first seed (default: the split's first)")
    parser.add_argument("--size", type=parse_size, help="image size WxH (default: the preset's)")
    parser.add_argument("--fps", type=float, default=10.0, help="KITTI drive frame rate")
    parser.add_argument("--preview", type=Path, help="write a contact sheet PNG instead")
    parser.add_argument("--preview-seeds", type=int, default=4, help="rows of the contact sheet")
    parser.set_defaults(func=run)


def _seed(args: argparse.Namespace) -> int:
    from ladderseg_ros.data.synthetic import SPLIT_SEEDS

    seeds = SPLIT_SEEDS[args.split]
    seed = seeds.start if args.seed is None else args.seed
    # Seeds used: one per preview row, one per Cityscapes frame, one for a whole KITTI drive.
    if args.preview is not None:
        count = args.preview_seeds
    else:
        count = args.frames if _layout(args) == "cityscapes" else 1
    if seed not in seeds or seed + count - 1 not in seeds:
        raise SynthError(
            f"--seed {seed} (+{count - 1}) lies outside the {args.split} seeds "
            f"{seeds.start}..{seeds.stop - 1}"
        )
    return seed


def _layout(args: argparse.Namespace) -> str:
    return getattr(args, "layout", None) or args.preset


def run(args: argparse.Namespace) -> int:
    from ladderseg_ros.data.synthetic import RIGS

    rig = RIGS[args.preset]
    if args.size is not None:
        rig = rig.resized(*args.size)
    if args.frames < 1:
        raise SynthError(f"--frames must be >= 1, got {args.frames}")
    if args.preview_seeds < 1:
        raise SynthError(f"--preview-seeds must be >= 1, got {args.preview_seeds}")
    seed = _seed(args)
    if args.preview is not None:
        write_preview(args.preview, rig, range(seed, seed + args.preview_seeds))
        print(f"wrote {args.preview}")
        return 0
    if args.out is None:
        raise SynthError("either --out DIR or --preview PNG is required")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthError(f"{out} exists and is not an empty directory, not writing into it")
    # Rendered into a hidden sibling and renamed when complete: an interrupted run leaves
    # nothing behind, so the same command restarts cleanly.
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        if _layout(args) == "cityscapes":
            write_cityscapes(work, args.split, rig, range(seed, seed + args.frames))
        else:
            write_kitti_drive(work, rig, seed, args.frames, args.fps)
        if out.is_dir():
            out.rmdir()  # empty (checked above); fails if something appeared meanwhile
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work)
    print(
        f"wrote {args.frames} {args.preset}-rig frames ({rig.width}x{rig.height}) in the "
        f"{_layout(args)} layout to {out}"
    )
    return 0


def write_cityscapes(root: Path, split: str, rig, seeds: range) -> None:
    """One independent street per seed, in the Cityscapes layout."""
    from ladderseg_ros.classes import colorize
    from ladderseg_ros.data.layouts import write_cityscapes_sample
    from ladderseg_ros.data.synthetic import render_frame

    for seed in seeds:
        frame = render_frame(seed, rig)
        write_cityscapes_sample(
            root, split, CITY, seed % 1_000_000, 19,
            left=frame.left, right=frame.right, disparity=frame.disparity,
            camera=rig.calib, camera_height=rig.camera_height,
            label_ids=frame.label_ids, color=colorize(frame.train_ids),
        )  # fmt: skip
        log.info("seed %d written", seed)


def write_kitti_drive(root: Path, rig, seed: int, frames: int, fps: float) -> Path:
    """One drive of ``frames`` frames in the KITTI raw layout; returns the drive directory."""
    from ladderseg_ros.data.layouts import (
        KITTI_CALIB_NAME,
        kitti_raw_drive_dir,
        write_kitti_calib,
        write_kitti_raw_frame,
        write_kitti_timestamps,
    )
    from ladderseg_ros.data.synthetic import render_drive

    drive_dir = kitti_raw_drive_dir(root, KITTI_DATE, seed % 10000)
    p_left, p_right = rig.projections()
    write_kitti_calib(
        root / KITTI_DATE / KITTI_CALIB_NAME, p_left, p_right, (rig.width, rig.height)
    )
    stamps = []
    for frame in render_drive(seed, frames, rig, fps):
        write_kitti_raw_frame(drive_dir, frame.index, frame.left, frame.right)
        stamps.append(frame.timestamp)
    write_kitti_timestamps(drive_dir, stamps)
    return drive_dir


def disparity_colormap(disparity: np.ndarray) -> np.ndarray:
    """Colour-map a disparity image (RGB uint8), black where invalid."""
    import cv2

    valid = disparity > 0
    top = float(np.percentile(disparity[valid], 99)) if valid.any() else 1.0
    scaled = np.clip(disparity / max(top, 1e-6) * 255, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)[:, :, ::-1].copy()
    rgb[~valid] = 0
    return rgb


def write_preview(path: Path, rig, seeds: range, tile_width: int = 480) -> None:
    """Contact sheet: a row per seed of left, right, disparity and labels."""
    import cv2

    from ladderseg_ros.classes import colorize
    from ladderseg_ros.data.layouts import write_png
    from ladderseg_ros.data.synthetic import render_frame

    rows = []
    for seed in seeds:
        frame = render_frame(seed, rig)
        tiles = [frame.left, frame.right, disparity_colormap(frame.disparity)]
        tiles.append(colorize(frame.train_ids))
        size = (tile_width, max(1, round(tile_width * rig.height / rig.width)))
        rows.append(
            np.concatenate([cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles], 1)
        )
    write_png(path, np.concatenate(rows, 0))
