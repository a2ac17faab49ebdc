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
    "ladderseg_ros.training.evaluate",
    "ladderseg_ros.training.train",
    "ladderseg_ros.tools.bag_cli",
    "ladderseg_ros.tools.replay_cli",
    "ladderseg_ros.tools.segment_bag",
    "ladderseg_ros.tools.demo",
    "ladderseg_ros.data.synth_cli",
    "ladderseg_ros.model.info_cli",
    "ladderseg_ros.inference.export_cli",
    "ladderseg_ros.inference.predict_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ladderseg",
        description="Stereo semantic segmentation: data, training, evaluation, export, bags.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
