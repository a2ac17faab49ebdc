"""``ladderseg export WEIGHTS --onnx OUT``: ONNX model with dynamic height and width.

The ONNX file carries the weights' metadata (classes, normalization, architecture), so the
ONNX Runtime backend can run it without the ``.safetensors`` file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ladderseg_ros.errors import LadderSegError


class ExportCliError(LadderSegError, ValueError):
    """Refused export arguments."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export weights to ONNX (dynamic height/width, metadata embedded)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", type=Path, help="input .safetensors weights")
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17)")
    parser.add_argument(
        "--check", action="store_true", help="run ONNX Runtime on it and compare with torch"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --onnx file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ladderseg_ros.inference.export import export_onnx
    from ladderseg_ros.weights import load_weights

    if args.onnx.resolve() == args.weights.resolve():
        raise ExportCliError(f"{args.onnx} is the input file, not overwriting it")
    if args.onnx.exists() and not args.force:  # before loading anything
        raise ExportCliError(f"{args.onnx} exists already, not overwriting (--force replaces it)")
    model, metadata = load_weights(args.weights)
    example = metadata.input_size or (512, 256)
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


def _check(weights: Path, onnx_path: Path, size: tuple[int, int]) -> float:
    import numpy as np

    from ladderseg_ros.inference import Segmenter

    width, height = size[0] + 13, size[1] + 7  # off the tracing size on purpose
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    disparity = (rng.random((height, width)) * 64).astype(np.float32)
    a = Segmenter.from_weights(weights, backend="torch", device="cpu")
    b = Segmenter.from_weights(onnx_path, backend="onnxruntime", device="cpu")
    return float(np.mean(a(rgb, disparity, 0.5).labels == b(rgb, disparity, 0.5).labels))
