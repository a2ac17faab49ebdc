"""Disparity for the network at fractions of the network's size: time, mIoU, agreement.

When disparity feeds only a scale-selection network, ``FrameProcessor`` matches the pair at
``SgbmConfig.network_scale`` times the size the network runs at and hands the small map to
the Segmenter (the multiplexer reads disparity at its tap's stride). This renders held-out
synthetic test frames of each preset rig at its native size and, frame by frame, for each
fraction (``--fractions``, default 1, 1/2, 1/4, 1/8): times SGBM as the processor runs it,
scores the labels against the ground truth (``FrameProcessor`` with ``Wanted(labels)``, the
node's and ``segment-bag``'s path) and counts the pixels whose label agrees with fraction
1's. A row ``camera`` matches at the camera's size (what the ``disparity`` output costs).

    python bench/sgbm_scale.py ladderseg_ros/assets/ldn_demo.safetensors --frames 20
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np

from ladderseg_ros.classes import get_label_set
from ladderseg_ros.data.synthetic import RIGS, SPLIT_SEEDS, render_frame
from ladderseg_ros.frames.frame import FrameGeometry, StereoFrame, Wanted
from ladderseg_ros.frames.processor import FrameProcessor
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.stereo import SgbmConfig, compute_disparity
from ladderseg_ros.training.evaluation import ConfusionMatrix

LABELS_ONLY = Wanted(labels=True, color=False, overlay=False, confidence=False, disparity=False)


def main(argv: list[str] | None = None) -> int:
    """Prints, per rig and fraction, SGBM ms, mIoU and agreement with fraction 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--frames", type=int, default=20, help="test frames per rig")
    parser.add_argument("--presets", nargs="+", default=["kitti", "cityscapes"])
    parser.add_argument("--fractions", default="1,0.5,0.25,0.125")
    parser.add_argument("--backend", default="onnxruntime", choices=("torch", "onnxruntime"))
    args = parser.parse_args(argv)
    fractions = [float(f) for f in args.fractions.split(",")]
    segmenter = Segmenter.from_weights(args.weights, backend=args.backend, device="cpu")
    label_set = get_label_set(segmenter.metadata.label_set)
    processors = {
        f: FrameProcessor(segmenter, label_set, SgbmConfig(network_scale=f)) for f in fractions
    }
    for preset in args.presets:
        rig = RIGS[preset]
        times: dict[str, list[float]] = {"camera": [], **{str(f): [] for f in fractions}}
        matrices = {f: ConfusionMatrix(label_set.num_classes) for f in fractions}
        agree: dict[float, list[float]] = {f: [] for f in fractions}
        for seed in SPLIT_SEEDS["test"][: args.frames]:
            rendered = render_frame(seed, rig)
            frame = StereoFrame(
                rendered.left,
                rendered.right,
                geometry=FrameGeometry(focal=rig.focal, baseline=rig.baseline),
            )
            start = time.perf_counter()
            compute_disparity(frame.left, frame.right, SgbmConfig())
            times["camera"].append((time.perf_counter() - start) * 1e3)
            labels = {}
            for f, processor in processors.items():
                config = processor._network_scale_sgbm(frame)
                start = time.perf_counter()
                compute_disparity(frame.left, frame.right, config, at_matched_size=True)
                times[str(f)].append((time.perf_counter() - start) * 1e3)
                labels[f] = processor.process(frame, LABELS_ONLY).outputs.labels
                matrices[f].update(labels[f], rendered.train_ids)
                agree[f].append(float(np.mean(labels[f] == labels[fractions[0]])))
        width, height = segmenter.network_size(rig.width, rig.height, rig.focal)
        print(f"{preset} rig {rig.width}x{rig.height} (network {width}x{height}), "
              f"{args.frames} test frames")  # fmt: skip
        print(f"  SGBM at the camera's size: {statistics.median(times['camera']):7.1f} ms")
        reference = 100 * matrices[fractions[0]].miou()
        for f in fractions:
            config = dataclasses.replace(SgbmConfig(), scale=min(1.0, f * width / rig.width))
            w = round(rig.width * config.scale)
            miou = 100 * matrices[f].miou()
            sgbm_ms = statistics.median(times[str(f)])
            print(
                f"  {f:g} of the network ({w} px wide): SGBM {sgbm_ms:6.1f}"
                f" ms, mIoU {miou:5.2f} ({miou - reference:+.2f}), labels agree with "
                f"{fractions[0]:g} on {100 * statistics.mean(agree[f]):.2f}%"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
