"""``ladderseg replay BAG``: publish a rosbag2 into live topics with its recorded timing.

For machines without ``ros2 bag play``; rclpy is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``replay`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "replay",
        help="publish a rosbag2 into live ROS 2 topics with its original timing",
        description=(
            "Publish every message of a rosbag2 (sqlite3 or mcap) at its recorded time, as "
            "stored (serialized bytes, headers unchanged). Needs rclpy."
        ),
    )
    parser.add_argument("bag", type=Path, help="rosbag2 directory")
    parser.add_argument(
        "--rate", type=float, default=1.0, help="speed factor (2 = twice as fast; default 1)"
    )
    parser.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    parser.add_argument(
        "--start-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="skip this many seconds from the bag's start",
    )
    parser.add_argument(
        "--topics", nargs="+", default=None, metavar="TOPIC", help="replay only these topics"
    )
    parser.add_argument("--qos-depth", type=int, default=10, help="publisher queue depth")
    parser.add_argument(
        "--best-effort", action="store_true", help="best-effort publishers (default reliable)"
    )
    parser.add_argument(
        "--wait-subscribers",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for subscribers before the first message",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replays ``args.bag`` and prints what was published; returns 0."""
    from ladderseg_ros.ros.replay import ReplayConfig, replay_bag

    config = ReplayConfig(
        rate=args.rate,
        loop=args.loop,
        start_offset=args.start_offset,
        topics=tuple(args.topics) if args.topics else None,
        qos_depth=args.qos_depth,
        reliable=not args.best_effort,
        wait_for_subscribers=args.wait_subscribers,
    )
    stats = replay_bag(args.bag, config)
    print(
        f"published {stats.published} messages in {stats.loops} pass(es); "
        f"worst lateness {stats.max_lateness * 1e3:.1f} ms"
    )
    return 0
