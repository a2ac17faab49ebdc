"""``ladderseg demo`` (``make demo``): argument parsing; the run is ``tools.demo``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from ladderseg_ros.cli.args import (
    add_node_param_argument,
    format_node_param,
    parse_size,
    positive_float,
    positive_int,
)
from ladderseg_ros.tools.demo import (
    DEFAULT_FRAMES,
    DEFAULT_OUT,
    DEFAULT_SIZE,
    DEFAULT_WEIGHTS,
    PRIVATE_DOMAINS,
    DemoConfig,
    DemoError,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``demo`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "demo",
        help="segment a drive with the real node: synthetic by default, or your bag/KITTI drive",
        description=(
            "Render a short synthetic drive (or take --bag / --kitti), write it as a rosbag2, "
            "start the ladderseg node, replay the drive into it, and write a contact sheet, a "
            "video and a summary into --out; prints mIoU against the ground truth and latency. "
            "An existing non-empty --out is refused unless --force (replaced only once the "
            "new results are complete)."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bag", type=Path, default=None, help="replay this rosbag2 instead")
    source.add_argument(
        "--kitti", type=Path, default=None, metavar="DRIVE_DIR", help="a KITTI raw *_sync drive"
    )
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="weights file")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument(
        "--frames",
        type=positive_int,
        default=DEFAULT_FRAMES,
        help="frames of the drive (synthetic/KITTI)",
    )
    parser.add_argument(
        "--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH", help="synthetic image size"
    )
    parser.add_argument("--seed", type=int, default=None, help="synthetic drive seed")
    parser.add_argument("--rate", type=positive_float, default=1.0, help="replay speed factor")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    add_node_param_argument(
        parser, "--param", "extra node parameter, e.g. sgbm_num_disparities:=64 (repeatable)"
    )
    parser.add_argument(
        "--ros-domain-id",
        type=int,
        default=None,
        metavar="ID",
        help=f"private ROS_DOMAIN_ID of the demo and its node ({PRIVATE_DOMAINS[0]}.."
        f"{PRIVATE_DOMAINS[1]}; default random), always loopback only",
    )
    parser.set_defaults(func=run)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``timeout``, CI, systemd) stops the demo as Ctrl-C does.

    The node is stopped and no partial output is left; without it the process died at once
    and orphaned the node.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: Node parameters the demo chooses itself (a --param would start a node it cannot feed).
OWN_OPTIONS = {
    "weights": "--weights",
    "disparity_source": "the bag (compute when it has both images, else its DisparityImage)",
    "compressed": "the bag (CompressedImage when it has only <image topic>/compressed)",
}


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints its summary and files; returns 0."""
    from ladderseg_ros.tools.demo.run import run_demo

    for name, _ in args.param:
        if name in OWN_OPTIONS:
            raise DemoError(f"--param {name}: the demo sets it from {OWN_OPTIONS[name]}")
    config = DemoConfig(
        out=args.out,
        weights=args.weights,
        bag=args.bag,
        kitti=args.kitti,
        frames=args.frames,
        size=args.size,
        seed=args.seed,
        rate=args.rate,
        force=args.force,
        node_params=tuple(format_node_param(name, value) for name, value in args.param),
        domain_id=args.ros_domain_id,
    )
    with _sigterm_as_interrupt():
        report = run_demo(config)
    print(report.summary())
    for path in report.files:
        print(f"wrote {path}")
    return 0
