"""``ladderseg predict WEIGHTS INPUT OUT``: segment a folder of images or a dataset root.

INPUT is a folder of images (``*.png``, ``*.jpg``), a Cityscapes root (``leftImg8bit/`` inside;
disparity and camera JSON are read, or disparity computed by SGBM from ``rightImg8bit``), or a
KITTI raw root or ``*_sync`` drive (disparity by SGBM, baseline from the calibration). For
each input image it writes ``OUT/<name>_labelTrainIds.png`` (uint8 trainIds) and
``OUT/<name>_color.png``.

Each image is resized so that the network sees objects at the scale its weights were trained
at, using the camera's focal length (Cityscapes camera JSON, KITTI calibration, or ``--focal``
for a folder of images; else the trained input width), and labels come back at the image's
size. ``--input-size`` overrides that.

Interrupted runs resume: ``OUT/.ladderseg_predict.json`` records the weights (SHA-256) and
settings, and a rerun with the same ones writes only the images not yet there (each PNG is
written atomically, so none is partial). An OUT made with other weights or settings, or
holding other files, is refused: nothing is overwritten.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from ladderseg_ros.cli.args import add_backend_arguments, parse_size, plain_help, positive_float
from ladderseg_ros.tools.predict import (
    PredictError,
    find_jobs,
    plain_weights_hint,
    predict_jobs,
    prepare_out,
)


def _settings(args: argparse.Namespace) -> dict[str, object]:
    """What a resumed run must share with the first: the weights' SHA-256 and settings."""
    digest = hashlib.sha256()
    with args.weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {
        "weights_sha256": digest.hexdigest(),
        "input": str(args.input.resolve()),
        "backend": args.backend,
        "input_size": args.input_size,
        "focal": args.focal,
        "precision": args.precision,
        "split": args.split,
        "baseline": args.baseline,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``predict`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "predict",
        help="segment a folder of images or a Cityscapes / KITTI root to label PNGs",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", type=Path, help=".safetensors (or .onnx for onnxruntime)")
    parser.add_argument("input", type=Path, help="image folder, Cityscapes root or KITTI root")
    parser.add_argument("out", type=Path, help="output folder")
    add_backend_arguments(parser)
    parser.add_argument("--half", action="store_true", help="fp16 (torch on CUDA)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: every core)")
    parser.add_argument(
        "--input-size",
        help="network input WxH (default: each image resized to the weights' trained scale)",
    )
    parser.add_argument(
        "--focal",
        type=positive_float,
        help="camera fx in pixels for a folder of images (sets the scale)",
    )
    parser.add_argument("--split", default="val", help="Cityscapes split (default val)")
    parser.add_argument(
        "--baseline", type=positive_float, help="baseline in metres when not in INPUT"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Segments every image of ``args.input`` into ``args.out`` (resuming); returns 0.

    Raises:
        PredictError: an input that cannot be segmented as asked, or an OUT of another run.
    """
    from tqdm import tqdm

    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.inference.segmenter import weights_metadata

    out: Path = args.out
    if out.resolve() == args.input.resolve() or args.input.resolve() in out.resolve().parents:
        raise PredictError(f"{out} lies inside the input {args.input}; choose another folder")
    kind, jobs = find_jobs(args.input, args.split)
    size = parse_size(args.input_size) if args.input_size else None
    model = weights_metadata(args.weights).model  # checked before any export or calibration
    if model.uses_disparity and kind == "images" and not any(j.right for j in jobs):
        raise PredictError(
            f"{args.weights} ({model.name}) selects scales by disparity, "
            f"and {args.input} holds single images: use weights that need no disparity "
            f"({plain_weights_hint()}), or give a Cityscapes/KITTI root with right images"
        )
    segmenter = Segmenter.from_weights(
        args.weights,
        args.backend,
        args.device,
        args.half,
        args.threads,
        size,
        precision=args.precision,
    )
    held = prepare_out(out, _settings(args))
    progress = tqdm(jobs, desc=f"predict ({kind}, {segmenter.backend_name})", unit="img")
    done = predict_jobs(segmenter, progress, out, args.baseline, args.focal)
    resumed = f" (resumed: {done} were there)" if held else ""
    print(f"wrote {len(jobs) - done} label and colour PNG pairs to {out}{resumed}")
    return 0
