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
from pathlib import Path

from ladderseg_ros.cli.args import parse_size, plain_help, positive_float
from ladderseg_ros.data.layouts import write_png
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import atomic_output_dir, refuse_existing


class SynthError(LadderSegError, ValueError):
    """A ``ladderseg synth`` argument is unusable."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``synth`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "synth",
        help="render the synthetic stereo world to disk (Cityscapes / KITTI raw layout)",
        description=plain_help(__doc__),
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
    parser.add_argument("--frames", type=int, help="frames to write (default 10)")
    parser.add_argument("--out", type=Path, help="output directory (must be empty or absent)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train")
    parser.add_argument("--seed", type=int, help="first seed (default: the split's first)")
    parser.add_argument("--size", type=parse_size, help="image size WxH (default: the preset's)")
    parser.add_argument("--fps", type=positive_float, help="KITTI drive frame rate (default 10)")
    parser.add_argument("--preview", type=Path, help="write a contact sheet PNG instead")
    parser.add_argument("--preview-seeds", type=int, default=4, help="rows of the contact sheet")
    parser.set_defaults(func=run)


def _seed(args: argparse.Namespace) -> int:
    """The first seed, checked to keep every seed used inside the split's range."""
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
    """The file layout: ``--layout``, else the preset's own."""
    return getattr(args, "layout", None) or args.preset


def run(args: argparse.Namespace) -> int:
    """Writes the dataset (or the preview) that ``args`` ask for; returns 0.

    Raises:
        SynthError: an unusable argument, or ``--out`` exists and is not an empty directory.
    """
    # The renderer is imported when the command runs: ``ladderseg --help`` stays quick.
    from ladderseg_ros.data.synthetic import RIGS
    from ladderseg_ros.data.synthetic.writers import write_cityscapes, write_kitti_drive

    rig = RIGS[args.preset]
    if args.size is not None:
        rig = rig.resized(*args.size)
    if args.preview is not None:  # a contact sheet: the dataset's options would be ignored
        named = ("out", "layout", "frames", "fps")
        given = [f"--{n}" for n in named if getattr(args, n) is not None]
        if given:
            raise SynthError(
                f"--preview writes a contact sheet instead of a dataset: drop {', '.join(given)}"
            )
        if args.preview.suffix.lower() != ".png":
            raise SynthError(f"--preview {args.preview}: the contact sheet is a .png file")
        refuse_existing(args.preview, SynthError)
    args.frames = 10 if args.frames is None else args.frames
    args.fps = 10.0 if args.fps is None else args.fps
    if args.frames < 1:
        raise SynthError(f"--frames must be >= 1, got {args.frames}")
    if args.preview_seeds < 1:
        raise SynthError(f"--preview-seeds must be >= 1, got {args.preview_seeds}")
    seed = _seed(args)
    if args.preview is not None:
        from ladderseg_ros.tools.visualize import synthetic_preview

        write_png(args.preview, synthetic_preview(rig, range(seed, seed + args.preview_seeds)))
        print(f"wrote {args.preview}")
        return 0
    if args.out is None:
        raise SynthError("either --out DIR or --preview PNG is required")
    out = Path(args.out)
    # Built under a hidden partial folder and renamed when complete: an interrupted run
    # leaves nothing behind, so the same command restarts cleanly.
    with atomic_output_dir(out, error=SynthError) as work:
        if _layout(args) == "cityscapes":
            write_cityscapes(work, args.split, rig, range(seed, seed + args.frames))
        else:
            write_kitti_drive(work, rig, seed, args.frames, args.fps)
    print(
        f"wrote {args.frames} {args.preset}-rig frames ({rig.width}x{rig.height}) in the "
        f"{_layout(args)} layout to {out}"
    )
    return 0
