"""Ablation: does disparity-driven scale selection help? Two weights, same held-out frames.

Renders frames from the synthetic world's test seeds, segments them with each weights file
and prints mIoU plus per-class IoU split by ground-truth distance (near / far), because scale
selection is meant to help where apparent size varies most. Models that use disparity are
run on SGBM disparity (what the node computes) and, for reference, on the exact disparity.

    python bench/scale_selection_ablation.py runs/synthetic_demo/model.safetensors \
        runs/synthetic_demo_ss/model.safetensors --frames 100 --size 640x192
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from ladderseg_ros.classes import CITYSCAPES, IGNORE_INDEX
from ladderseg_ros.cli.args import parse_size
from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS, render_frame
from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.stereo import SgbmConfig, compute_disparity
from ladderseg_ros.training.evaluation import ConfusionMatrix

OBJECT_CLASSES = ("pole", "traffic light", "traffic sign", "person", "rider", "car", "truck", "bus")


def _bands(near: float, far: float) -> dict[str, tuple[float, float]]:
    return {
        "all": (0.0, math.inf),
        f"near<{near:g}m": (0.0, near),
        f"far>{far:g}m": (far, math.inf),
    }


def _run_names(paths: list[Path]) -> list[str]:
    """A distinct label per weights file.

    Its folder (``runs/NAME/model.safetensors``), else its file name (two files of one
    folder, such as the shipped ones), else its path.
    """
    for label in (lambda p: p.parent.name, lambda p: p.stem, str):
        names = [label(p) for p in paths]
        if len(set(names)) == len(names):
            return names
    raise SystemExit("the same weights file is given twice")


def main() -> None:
    """Scores every weights file on held-out frames and prints the mIoU tables by distance."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", default="640x192", type=parse_size)
    parser.add_argument("--near", type=float, default=15.0)
    parser.add_argument("--far", type=float, default=30.0)
    parser.add_argument(
        "--tables", action="store_true", help="also print each run's full per-class table"
    )
    args = parser.parse_args()
    width, height = args.size
    rig = KITTI_RIG.resized(width, height)
    # The range training used (covers the nearest synthetic surfaces), as the demo node does.
    sgbm = SgbmConfig(num_disparities=sgbm_num_disparities(rig))
    bands = _bands(args.near, args.far)

    runs: dict[str, tuple[Segmenter, str]] = {}
    for path, name in zip(args.weights, _run_names(args.weights), strict=True):
        seg = Segmenter.from_weights(path, backend="torch", device="cpu")
        runs[name] = (seg, "sgbm")
        if seg.uses_disparity:
            runs[f"{name} (exact disparity)"] = (seg, "exact")
    matrices = {
        (run, band): ConfusionMatrix(CITYSCAPES.num_classes) for run in runs for band in bands
    }

    seeds = SPLIT_SEEDS["test"][: args.frames]
    for seed in seeds:
        frame = render_frame(seed, rig)
        sgbm_disp = compute_disparity(frame.left, frame.right, sgbm)
        depth = np.where(frame.depth > 0, frame.depth, np.inf)
        for run, (seg, source) in runs.items():
            disparity = frame.disparity if source == "exact" else sgbm_disp
            result = (
                seg(frame.left, disparity, rig.baseline) if seg.uses_disparity else seg(frame.left)
            )
            for band, (lo, hi) in bands.items():
                # "all" keeps every pixel; distance bands leave out the sky (no depth).
                inside = (depth >= lo) & (depth < hi) if band != "all" else True
                gt = np.where(inside, frame.train_ids, IGNORE_INDEX)
                matrices[run, band].update(result.labels, gt)

    print(
        f"{len(seeds)} test frames at {width}x{height} (seeds {seeds[0]}..{seeds[-1]}); "
        f"SGBM {sgbm.num_disparities} disparities"
    )
    header = f"{'run':<38}" + "".join(f"{band:>14}" for band in bands)
    print("\nmIoU (%) by ground-truth distance")
    print(header)
    for run in runs:
        print(f"{run:<38}" + "".join(f"{100 * matrices[run, b].miou():14.2f}" for b in bands))
    if args.tables:
        for run in runs:
            print(f"\n{run}: all pixels\n{matrices[run, 'all'].format_table(CITYSCAPES)}")
    for band in bands:
        print(f"\nper-class IoU (%), {band}")
        print(f"{'class':<16}" + "".join(f"{run[:24]:>26}" for run in runs))
        for name in (*OBJECT_CLASSES, "road", "sidewalk", "building", "vegetation"):
            i = CITYSCAPES.names.index(name)
            cells = []
            for run in runs:
                value = matrices[run, band].iou()[i]
                cells.append(f"{'n/a' if not np.isfinite(value) else f'{100 * value:.2f}':>26}")
            print(f"{name:<16}" + "".join(cells))


if __name__ == "__main__":
    main()
