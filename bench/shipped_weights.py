r"""Shipped weights on held-out synthetic frames of both rigs at the cameras' own sizes.

Runs the real entry points with their default settings (no size flags: each image runs at the
weights' trained scale) and prints per-class IoU and mIoU:
- the Cityscapes rig at 2048x1024: ``ladderseg synth --split test`` (Cityscapes layout),
  ``ladderseg predict``, ``ladderseg eval``;
- the KITTI rig at 1242x375: ``ladderseg bag from-synthetic --preset kitti --size 1242x375``
  (a held-out drive seed), ``ladderseg segment-bag`` (which scores against the bag's ground
  truth).

    .venv/bin/python bench/shipped_weights.py ladderseg_ros/assets/ldn_demo.safetensors \\
        --frames 20 --out bench/results/shipped

OUT must not exist; it keeps every rendered input and output for inspection.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

TEST_SEED = 1_100_000
"""First seed of the synthetic test split (never used in training or model selection)."""


def _ladderseg(*args: str) -> str:
    command = [sys.executable, "-m", "ladderseg_ros.cli", *args]
    print("$ ladderseg " + " ".join(args), flush=True)
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    """Runs both rigs through the ``ladderseg`` commands and prints their tables; returns 0.

    Raises:
        FileExistsError: ``--out`` exists already.
        subprocess.CalledProcessError: a ``ladderseg`` command failed.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--frames", type=int, default=20, help="frames per rig (default 20)")
    parser.add_argument("--out", type=Path, required=True, help="new folder for everything")
    parser.add_argument("--backend", default="onnxruntime", choices=("torch", "onnxruntime"))
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True)
    weights = str(args.weights)
    frames = str(args.frames)

    cs_root = out / "cityscapes_rig"
    _ladderseg(
        "synth",
        "--preset",
        "cityscapes",
        "--split",
        "test",
        "--frames",
        frames,
        "--out",
        str(cs_root),
    )
    _ladderseg(
        "predict",
        weights,
        str(cs_root),
        str(out / "cityscapes_pred"),
        "--split",
        "test",
        "--backend",
        args.backend,
    )
    table = _ladderseg(
        "eval",
        "--predictions",
        str(out / "cityscapes_pred"),
        "--ground-truth",
        str(cs_root / "gtFine" / "test"),
    )
    print(f"\nCityscapes rig, 2048x1024, {frames} test frames (predict, defaults):\n{table}")

    bag = out / "kitti_rig.bag"
    _ladderseg(
        "bag",
        "from-synthetic",
        "--preset",
        "kitti",
        "--size",
        "1242x375",
        "--frames",
        frames,
        "--seed",
        str(TEST_SEED),
        str(bag),
    )
    table = _ladderseg(
        "segment-bag",
        str(bag),
        str(out / "kitti_rig_out.bag"),
        "--weights",
        weights,
        "--backend",
        args.backend,
        "--no-progress",
    )
    print(
        f"\nKITTI rig, 1242x375, {frames} frames of test drive {TEST_SEED} (segment-bag, "
        f"defaults):\n{table}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
