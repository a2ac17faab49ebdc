"""``ladderseg segment-bag``: argument parsing only; the work is ``tools.segment_bag``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ladderseg_ros.cli.args import PARAM_SYNTAX, add_backend_arguments, parse_node_param
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError
from ladderseg_ros.tools.segment_bag import (
    DISPARITY_CHOICES,
    MODE_NAMES,
    SegmentBagConfig,
    segment_bag,
)

#: Node parameters that segment-bag takes as its own options (a --param would be overridden).
OWN_OPTIONS = {
    "weights": "--weights",
    "backend": "--backend",
    "device": "--device",
    "precision": "--precision",
    "disparity_source": "--disparity",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment-bag`` parser to the ``ladderseg`` command."""
    parser = subparsers.add_parser(
        "segment-bag",
        help="run the node's pipeline offline over a rosbag2, writing a new bag",
        description=(
            "Segment every synchronized stereo frame of IN (topics /stereo/left/image_rect, "
            "/stereo/right/image_rect, camera_info, /stereo/disparity) exactly as the ladderseg "
            "node would, and write the outputs to the new bag OUT under the node's topics "
            "(/ladderseg/labels, /color, /overlay, /confidence, /disparity) with the input "
            "stamps. When IN has /stereo/left/semantic_gt, prints per-class IoU and mIoU. "
            "IN is only read; no output is ever overwritten."
        ),
    )
    parser.add_argument("in_bag", type=Path, metavar="IN", help="input rosbag2 directory")
    parser.add_argument("out_bag", type=Path, metavar="OUT", help="new output rosbag2 directory")
    parser.add_argument("--weights", type=Path, required=True, help="network .safetensors file")
    add_backend_arguments(parser)
    parser.add_argument(
        "--disparity",
        choices=DISPARITY_CHOICES,
        default="auto",
        help="SGBM on the pair (compute), the bag's DisparityImage (topic), or auto: compute "
        "when the bag has both images and CameraInfos, else topic",
    )
    parser.add_argument(
        "--include-inputs", action="store_true", help="copy every input message into OUT too"
    )
    parser.add_argument("--video", type=Path, default=None, help="also write this .mp4")
    parser.add_argument(
        "--frames", type=Path, default=None, metavar="DIR", help="also write PNGs into new DIR"
    )
    parser.add_argument(
        "--points",
        action="store_true",
        help="also write the semantic point cloud /ladderseg/points (PointCloud2; points_* "
        "parameters via --param)",
    )
    parser.add_argument("--storage", choices=bags.STORAGES, default="sqlite3")
    parser.add_argument(
        "--param",
        type=parse_node_param,
        action="append",
        default=[],
        metavar=PARAM_SYNTAX,
        help="a node parameter, as with --ros-args -p (e.g. sgbm_num_disparities:=64, "
        "approximate_sync:=true); repeatable",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Segment the bag as parsed; prints the summary and the ground-truth table.

    Raises:
        BagError: See ``tools.segment_bag.segment_bag``.
    """
    from ladderseg_ros.ros.params import NodeParams

    if args.video is not None and args.video.suffix.lower() != ".mp4":
        raise BagError(f"--video {args.video}: the name must end in .mp4")
    for name, _ in args.param:
        if name in OWN_OPTIONS:
            raise BagError(f"--param {name}: segment-bag sets it with {OWN_OPTIONS[name]}")
    chosen = {
        "weights": str(args.weights),
        "backend": args.backend,
        "device": args.device,
        "precision": args.precision,
    }
    params = NodeParams.defaults().replaced(**{**dict(args.param), **chosen})
    config = SegmentBagConfig(
        params=params,
        disparity=args.disparity,
        include_inputs=args.include_inputs,
        storage=args.storage,
        video=args.video,
        frames_dir=args.frames,
        progress=not args.no_progress,
        points=args.points,
    )
    report = segment_bag(args.in_bag, args.out_bag, config)
    print(
        f"segmented {report.frames} frames ({MODE_NAMES[report.mode]}) in {report.seconds:.1f} s "
        f"({report.frames / max(report.seconds, 1e-9):.2f} frames/s) -> {args.out_bag}"
    )
    for kind, count in sorted(report.skipped.items()):
        print(f"skipped {count} frames: {kind}")
    if report.confusion is not None:
        print(f"ground truth of {report.evaluated} frames:")
        print(report.confusion.format_table(report.label_set))
    for what, path in (("video", args.video), ("frames", args.frames)):
        if what == "video" and report.video_problem is not None:
            print(f"video: none ({report.video_problem})")
        elif path is not None:
            print(f"{what}: {path}")
    return 0
