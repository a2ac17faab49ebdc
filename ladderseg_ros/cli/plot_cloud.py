"""``ladderseg plot-cloud BAG OUT``: a picture of a semantic point cloud that segment-bag wrote.

Reads one ``/ladderseg/points`` message (``segment-bag --points``) and draws it top-down and
in perspective into a new PNG (``tools.cloud_plot``), written atomically, never over a file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ladderseg_ros.cli.args import plain_help
from ladderseg_ros.tools.cloud_plot import plot_cloud, read_cloud


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``plot-cloud`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "plot-cloud",
        help="draw a /ladderseg/points cloud of a bag (segment-bag --points) into a PNG",
        description=plain_help(__doc__.splitlines()[0]),
    )
    parser.add_argument("bag", type=Path, help="bag written by segment-bag --points")
    parser.add_argument("out", type=Path, help="new PNG file")
    parser.add_argument("--index", type=int, default=0, help="which cloud (negative: from end)")
    parser.add_argument("--range", type=float, default=40.0, dest="max_range", help="metres")
    parser.add_argument("--label-set", default="cityscapes", help="class names for the legend")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Draws cloud ``args.index`` of ``args.bag`` into ``args.out``; returns 0."""
    points = read_cloud(args.bag, args.index)
    title = f"{args.bag.name}: cloud {args.index}, {points.shape[1]}x{points.shape[0]}"
    out = plot_cloud(points, args.out, args.label_set, args.max_range, title)
    print(f"wrote {out}")
    return 0
