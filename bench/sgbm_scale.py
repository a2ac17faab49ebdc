"""SGBM at camera resolution vs at the network's scale: time and mIoU, side by side.

When disparity feeds only the network, ``FrameProcessor`` matches the pair at the size the
Segmenter runs the network at (``FrameProcessor._network_scale_sgbm``). This renders held-out
synthetic test frames of each preset rig at its native size and, frame by frame, interleaved:
times SGBM at camera resolution and at the network's scale, and scores the weights' labels
from each disparity against the ground truth (``FrameProcessor`` with ``Wanted(labels)``,
the node's and ``segment-bag``'s path, against one that asks for the disparity output too,
which matches at camera resolution).

    python bench/sgbm_scale.py ladderseg_ros/assets/ldn_demo.safetensors --frames 6
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ladderseg_ros.classes import get_label_set
from ladderseg_ros.data.synthetic import RIGS, SPLIT_SEEDS, render_frame
from ladderseg_ros.frames.frame import FrameGeometry, StereoFrame, Wanted
from ladderseg_ros.frames.processor import FrameProcessor
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.stereo import SgbmConfig, compute_disparity
from ladderseg_ros.training.evaluation import ConfusionMatrix


def main(argv: list[str] | None = None) -> int:
    """Prints, per rig, SGBM ms at both scales and mIoU of the labels from each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--frames", type=int, default=6, help="test frames per rig")
    parser.add_argument("--presets", nargs="+", default=["kitti", "cityscapes"])
    parser.add_argument("--backend", default="onnxruntime", choices=("torch", "onnxruntime"))
    args = parser.parse_args(argv)
    segmenter = Segmenter.from_weights(args.weights, backend=args.backend, device="cpu")
    label_set = get_label_set(segmenter.metadata.label_set)
    processor = FrameProcessor(segmenter, label_set, SgbmConfig())
    for preset in args.presets:
        rig = RIGS[preset]
        times: dict[str, list[float]] = {"camera": [], "network": []}
        matrices = {k: ConfusionMatrix(label_set.num_classes) for k in times}
        agree: list[float] = []
        for seed in SPLIT_SEEDS["test"][: args.frames]:
            rendered = render_frame(seed, rig)
            frame = StereoFrame(
                rendered.left,
                rendered.right,
                geometry=FrameGeometry(focal=rig.focal, baseline=rig.baseline),
            )
            configs = {"camera": processor.sgbm, "network": processor._network_scale_sgbm(frame)}
            for name, config in configs.items():
                start = time.perf_counter()
                compute_disparity(frame.left, frame.right, config)
                times[name].append((time.perf_counter() - start) * 1e3)
            wanted = {
                "network": Wanted(
                    labels=True, color=False, overlay=False, confidence=False, disparity=False
                ),
                "camera": Wanted(
                    labels=True, color=False, overlay=False, confidence=False, disparity=True
                ),
            }
            labels = {}
            for name, want in wanted.items():
                labels[name] = processor.process(frame, want).outputs.labels
                matrices[name].update(labels[name], rendered.train_ids)
            agree.append(float((labels["camera"] == labels["network"]).mean()))
        width, height = segmenter.network_size(rig.width, rig.height, rig.focal)
        print(f"{preset} rig {rig.width}x{rig.height} (network {width}x{height}), "
              f"{args.frames} test frames")  # fmt: skip
        for name in ("camera", "network"):
            print(
                f"  SGBM at {name:>7} scale: {statistics.median(times[name]):7.1f} ms median, "
                f"mIoU {100 * matrices[name].miou():5.2f}"
            )
        ratio = statistics.median(times["camera"]) / statistics.median(times["network"])
        print(f"  camera / network SGBM time: {ratio:.1f}x; labels agree on "
              f"{100 * statistics.mean(agree):.2f}% of pixels")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
