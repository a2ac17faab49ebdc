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
    "ladderseg_ros.training.train_cli",
    "ladderseg_ros.tools.bag_cli",
    "ladderseg_ros.tools.replay_cli",
    "ladderseg_ros.tools.segment_bag_cli",
    "ladderseg_ros.tools.cloud_plot",
    "ladderseg_ros.tools.demo",
    "ladderseg_ros.data.synth_cli",
    "ladderseg_ros.model.info_cli",
    "ladderseg_ros.ldn_import_cli",
    "ladderseg_ros.inference.export_cli",
    "ladderseg_ros.inference.predict_cli",
)


class SizeError(LadderSegError, argparse.ArgumentTypeError, ValueError):
    """A ``WxH`` size argument that is malformed or too small.

    An ``ArgumentTypeError`` so that argparse, given ``type=parse_size``, prints this message.
    """


def parse_size(text: str, minimum: int = 16) -> tuple[int, int]:
    """``WxH`` (e.g. ``1024x448``) -> (width, height); both at least ``minimum`` pixels.

    The one size parser of every CLI and bench script (``type=parse_size`` in argparse).
    """
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SizeError(f"size must look like 1024x448 (WxH), got {text!r}") from None
    if width < minimum or height < minimum:
        raise SizeError(f"size must be at least {minimum}x{minimum}, got {text!r}")
    return width, height


def positive_int(text: str) -> int:
    """An integer >= 1 (``type=positive_int`` in argparse: counts of frames, sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a positive integer")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (``type=positive_float`` in argparse: rates, frame rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text}: expected a positive number")
    return value


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` (auto|torch|onnxruntime, default auto) and ``--precision`` (fp32|int8),
    the Segmenter's choices, for every command that runs the network."""
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnxruntime"),
        default="auto",
        help="inference backend (auto: torch on a CUDA GPU, else onnxruntime)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default="fp32",
        help="int8: onnxruntime, calibrated once on synthetic frames and cached",
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
