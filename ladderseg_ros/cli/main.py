"""The ``ladderseg`` command: one entry point, one module per subcommand.

Each module listed in ``COMMANDS`` exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning an exit code). Heavy imports
(torch, rclpy) stay inside those functions so that ``ladderseg --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ladderseg_ros.errors import LadderSegError

COMMANDS: tuple[str, ...] = (
    "ladderseg_ros.cli.evaluate",
    "ladderseg_ros.cli.train",
    "ladderseg_ros.cli.bag",
    "ladderseg_ros.cli.replay",
    "ladderseg_ros.cli.segment_bag",
    "ladderseg_ros.cli.plot_cloud",
    "ladderseg_ros.cli.demo",
    "ladderseg_ros.cli.synth",
    "ladderseg_ros.cli.info",
    "ladderseg_ros.cli.import_ldn",
    "ladderseg_ros.cli.export",
    "ladderseg_ros.cli.predict",
    "ladderseg_ros.cli.classes",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``ladderseg`` parser with every subcommand of ``COMMANDS`` registered."""
    parser = argparse.ArgumentParser(
        prog="ladderseg",
        description="Stereo semantic segmentation: data, training, evaluation, export, bags.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


#: Python packages of a ROS 2 install the commands that talk to ROS (replay, demo) import.
ROS_PACKAGES = frozenset(
    {
        "rclpy",
        "rosidl_runtime_py",
        "builtin_interfaces",
        "std_msgs",
        "sensor_msgs",
        "stereo_msgs",
        "diagnostic_msgs",
        "lifecycle_msgs",
        "rcl_interfaces",
    }
)


def main(argv: list[str] | None = None) -> int:
    """Runs one ``ladderseg`` subcommand.

    Args:
        argv: the arguments after ``ladderseg`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: the command's (0 on success), 2 after a ``LadderSegError`` or a
        missing ROS 2 package (printed as one line naming the command), 130 after Ctrl-C.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except LadderSegError as exc:
        print(f"ladderseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ladderseg {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ROS_PACKAGES:
            raise
        print(
            f"ladderseg {args.command}: error: needs ROS 2 ({exc.name} is not installed): "
            "source /opt/ros/<distro>/setup.bash, or run `make setup` for the ROS wheels",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
