"""``ladderseg export WEIGHTS --onnx OUT [--int8]``: ONNX model with dynamic height and width.

The ONNX file carries the weights' metadata (classes, normalization, architecture), so the
ONNX Runtime backend can run it without the ``.safetensors`` file. ``--int8`` writes the
int8 model instead: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8
activations) calibrated on synthetic frames at the weights' input size; run it with
``precision int8``. ``bench/int8_accuracy.py`` measures what it costs in accuracy.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.cli.args import plain_help, positive_int
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import refuse_existing

if TYPE_CHECKING:
    from ladderseg_ros.model import LadderSeg
    from ladderseg_ros.weights import WeightsMetadata


class ExportCliError(LadderSegError, ValueError):
    """Refused export arguments."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``export`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "export",
        help="export weights to ONNX (dynamic height/width, metadata embedded)",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", type=Path, help="input .safetensors weights")
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17)")
    parser.add_argument(
        "--check", action="store_true", help="run ONNX Runtime on it and compare with torch"
    )
    parser.add_argument(
        "--int8", action="store_true", help="int8 QDQ model calibrated on synthetic frames"
    )
    parser.add_argument(
        "--calibration-frames",
        type=positive_int,
        default=16,
        help="int8: synthetic frames (default 16)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --onnx file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exports ``args.weights`` to ``args.onnx`` (fp32, or int8 with ``--int8``); returns 0.

    Raises:
        ExportCliError: refused arguments, an existing output, or ``--check`` disagreement.
    """
    from ladderseg_ros.inference.export import export_onnx, is_onnx_file
    from ladderseg_ros.weights import load_weights

    if args.onnx.resolve() == args.weights.resolve():
        raise ExportCliError(f"{args.onnx} is the input file, not overwriting it")
    if is_onnx_file(args.weights):
        raise ExportCliError(
            f"{args.weights} is an ONNX model: export takes .safetensors weights (the node, "
            "predict and segment-bag run an .onnx file as it is)"
        )
    if args.calibration_frames < 1:
        raise ExportCliError(f"--calibration-frames must be >= 1, got {args.calibration_frames}")
    if not args.force:  # before loading anything
        refuse_existing(args.onnx, ExportCliError, " (--force replaces it)")
    model, metadata = load_weights(args.weights)
    example = metadata.input_size or (512, 256)
    if args.int8:
        _export_int8(args, model, metadata)
        return 0
    path = export_onnx(
        model, metadata, args.onnx, opset=args.opset, example_size=example, overwrite=args.force
    )
    print(f"wrote {path} ({metadata.model.name}, opset {args.opset}, dynamic height/width)")
    if args.check:
        agreement = _check(args.weights, path, example)
        print(f"torch vs onnxruntime labels agree on {100 * agreement:.3f}% of pixels")
        if agreement < 0.999:
            raise ExportCliError(f"{path}: only {100 * agreement:.3f}% label agreement with torch")
    return 0


def _export_int8(args: argparse.Namespace, model: LadderSeg, metadata: WeightsMetadata) -> None:
    """fp32 export into a temporary folder, then the calibrated int8 model at ``args.onnx``."""
    from ladderseg_ros.inference.export import export_onnx
    from ladderseg_ros.inference.quantize import quantize_int8
    from ladderseg_ros.inference.segmenter import INT8_CALIBRATION_SIZE

    size = metadata.input_size or INT8_CALIBRATION_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(
            model, metadata, Path(tmp) / "fp32.onnx", opset=args.opset, example_size=size
        )
        quantize_int8(fp32, args.onnx, metadata, size, args.calibration_frames)
    print(
        f"wrote {args.onnx} ({metadata.model.name}, int8 QDQ, calibrated on "
        f"{args.calibration_frames} synthetic frames at {size[0]}x{size[1]}; precision int8)"
    )
    if args.check:
        print("--check compares fp32 with torch; for int8 run bench/int8_accuracy.py")


def _check(weights: Path, onnx_path: Path, size: tuple[int, int]) -> float:
    from ladderseg_ros.inference import Segmenter

    width, height = size[0] + 13, size[1] + 7  # off the tracing size on purpose
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    disparity = (rng.random((height, width)) * 64).astype(np.float32)
    a = Segmenter.from_weights(weights, backend="torch", device="cpu")
    b = Segmenter.from_weights(onnx_path, backend="onnxruntime", device="cpu")
    return float(np.mean(a(rgb, disparity, 0.5).labels == b(rgb, disparity, 0.5).labels))
