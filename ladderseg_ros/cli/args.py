"""Argument types and option groups shared by every command (and the bench scripts).

``type=parse_size`` and friends turn a bad value into argparse's one-line usage error;
``parse_node_param`` is the one parser of node parameters on a command line, ``NAME:=VALUE``
as ROS users type it (``ros2 run ... --ros-args -p NAME:=VALUE``, ``ros2 launch ...
NAME:=VALUE``).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.ros.params import SPEC_BY_NAME, ParamError, validate

PARAM_SYNTAX = "NAME:=VALUE"


class SizeError(LadderSegError, argparse.ArgumentTypeError, ValueError):
    """A ``WxH`` size argument that is malformed or too small.

    An ``ArgumentTypeError`` so that argparse, given ``type=parse_size``, prints this message.
    """


def parse_size(text: str, minimum: int = 16) -> tuple[int, int]:
    """Parses ``WxH`` (e.g. ``1024x448``), the one size parser of every command and bench script.

    Args:
        text: the argument, ``WxH`` in pixels (``X`` is accepted too).
        minimum: the least width and height, in pixels.

    Returns:
        (width, height) in pixels.

    Raises:
        SizeError: not ``WxH`` with integers, or a side below ``minimum``.
    """
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SizeError(f"size must look like 1024x448 (WxH), got {text!r}") from None
    if width < minimum or height < minimum:
        raise SizeError(f"size must be at least {minimum}x{minimum}, got {text!r}")
    return width, height


def positive_int(text: str) -> int:
    """An integer >= 1 (``type=positive_int``: counts of frames, sizes).

    Raises:
        argparse.ArgumentTypeError: not an integer, or below 1.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a positive integer")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (``type=positive_float``: rates, frame rates).

    Raises:
        argparse.ArgumentTypeError: not a number, or not finite and positive.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text}: expected a positive number")
    return value


def parse_node_param(text: str) -> tuple[str, Any]:
    """``NAME:=VALUE`` of a node parameter, typed and checked by the node's parameter table.

    The syntax is ROS's own (``--ros-args -p NAME:=VALUE``), so a value copied from a launch
    command works here unchanged. The older ``NAME=VALUE`` is refused with a line naming the
    syntax to use.

    Args:
        text: the argument, e.g. ``sgbm_num_disparities:=64`` or ``approximate_sync:=true``.

    Returns:
        (name, value), the value of the parameter's type (bool, int, float or str).

    Raises:
        argparse.ArgumentTypeError: not ``NAME:=VALUE``, an unknown name, or a bad value.
    """
    name, sep, raw = text.partition(":=")
    if not sep:
        raise argparse.ArgumentTypeError(
            f"{text!r}: node parameters are written {PARAM_SYNTAX} (as with --ros-args -p), "
            f"e.g. {text.replace('=', ':=', 1) if '=' in text else 'sgbm_num_disparities:=64'}"
        )
    spec = SPEC_BY_NAME.get(name.strip())
    if spec is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {name.strip()!r} is not a node parameter (see the README table)"
        )
    kind = type(spec.default)
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError(f"expected true or false, got {raw!r}")
            value: Any = raw.lower() == "true"
        else:
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{spec.name} expects {spec.type_name}, got {raw!r}") from None
        validate(spec.name, value)
    except (ValueError, ParamError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
    return spec.name, value


def format_node_param(name: str, value: object) -> str:
    """``NAME:=VALUE`` as the node's ``--ros-args -p`` reads it (booleans as true/false)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{name}:={text}"


def add_node_param_argument(parser: argparse.ArgumentParser, option: str, help: str) -> None:
    """Adds ``option NAME:=VALUE`` (repeatable; parsed by ``parse_node_param``) to ``parser``.

    The parsed list is ``[(name, value), ...]`` in the order given (a later one wins).
    """
    parser.add_argument(
        option,
        type=parse_node_param,
        action="append",
        default=[],
        metavar=PARAM_SYNTAX,
        help=help,
    )


def plain_help(doc: str | None) -> str:
    """A module docstring as ``--help`` prints it: reST's double backquotes dropped."""
    return re.sub(r"``(.+?)``", r"\1", doc or "")


def device_argument(value: str) -> str:
    """The argparse type of ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    from ladderseg_ros.inference.backends import BackendError, check_device

    try:
        return check_device(value)
    except BackendError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--backend`` (auto|torch|onnxruntime), ``--device`` and ``--precision``.

    The Segmenter's choices, for every command that runs the network.
    """
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnxruntime"),
        default="auto",
        help="inference backend (auto: torch on a CUDA GPU, else onnxruntime)",
    )
    parser.add_argument(
        "--device",
        type=device_argument,
        default="auto",
        help="auto, cpu, cuda or cuda:N (a GPU index; default auto)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default="fp32",
        help="int8: onnxruntime, calibrated once on synthetic frames and cached",
    )
