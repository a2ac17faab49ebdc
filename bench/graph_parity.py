"""The Segmenter's in-graph pre/post-processing against the OpenCV pipeline it replaced.

Until this round the Segmenter resized the camera image with OpenCV (``INTER_AREA`` when
shrinking, ``INTER_LINEAR`` when growing), normalized it in numpy, ran the network and resized
the labels back (``INTER_NEAREST``). Now the backends do every step (``camera_graph``,
``resample``). This renders held-out synthetic test frames of each preset rig at its native
size and, for each weights file, compares the labels of the Segmenter -- ONNX Runtime's graph
with the resizing inside, as GPU providers run it, and torch resizing on its device, as on a
GPU -- with that OpenCV pipeline
around the same torch network: pixels that agree, and mIoU of both against the ground truth
(SGBM disparity for scale-selection weights, as the node computes).

    python bench/graph_parity.py --frames 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from ladderseg_ros.data.synthetic import RIGS, SPLIT_SEEDS, render_frame
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.inference.backends import TorchBackend
from ladderseg_ros.stereo import SgbmConfig, compute_disparity, resize_disparity
from ladderseg_ros.training.evaluation import ConfusionMatrix
from ladderseg_ros.weights import load_weights

ASSETS = Path(__file__).resolve().parents[1] / "ladderseg_ros" / "assets"
WEIGHTS = [ASSETS / "ldn_demo.safetensors", ASSETS / "ldn_demo_mono.safetensors"]


def opencv_pipeline(
    model: torch.nn.Module,
    metadata: object,
    rgb: np.ndarray,
    size: tuple[int, int],
    disparity: np.ndarray | None,
    baseline: float | None,
) -> np.ndarray:
    """Labels as the Segmenter computed them before: OpenCV resizing around the network."""
    height, width = rgb.shape[:2]
    if size != (width, height):
        shrink = size[0] < width
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if disparity is not None:
            disparity = resize_disparity(disparity, size)
    mean = np.asarray(metadata.mean, np.float32) * 255
    std = np.asarray(metadata.std, np.float32) * 255
    x = torch.from_numpy(((rgb - mean) / std).astype(np.float32).transpose(2, 0, 1)[None])
    d = b = None
    if disparity is not None:
        d = torch.from_numpy(disparity)[None, None]
        b = torch.tensor([baseline], dtype=torch.float32)
    with torch.inference_mode():
        labels = model(x, d, b)["out"][0].argmax(0).to(torch.uint8).numpy()
    return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)


def main(argv: list[str] | None = None) -> int:
    """Prints, per weights, rig and backend: agreement and mIoU, OpenCV vs in-graph."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=WEIGHTS)
    parser.add_argument("--frames", type=int, default=20, help="test frames per rig")
    parser.add_argument("--presets", nargs="+", default=["kitti", "cityscapes"])
    args = parser.parse_args(argv)
    for weights in args.weights:
        model, metadata = load_weights(weights)
        model.eval()
        segmenters = {  # ONNX Runtime's graph as GPU providers run it, here on the CPU
            "onnxruntime": Segmenter.from_weights(
                weights, "onnxruntime", "cpu", resize_in_graph=True
            ),
            "torch": Segmenter(
                TorchBackend(model, "cpu", False, None, metadata.mean, metadata.std, True),
                metadata,
            ),
        }
        classes = len(metadata.class_names)
        for preset in args.presets:
            rig = RIGS[preset]
            matrices = {k: ConfusionMatrix(classes) for k in ("opencv", *segmenters)}
            agree: dict[str, list[float]] = {k: [] for k in segmenters}
            for seed in SPLIT_SEEDS["test"][: args.frames]:
                frame = render_frame(seed, rig)
                disparity = baseline = None
                if model.uses_disparity:
                    disparity = compute_disparity(frame.left, frame.right, SgbmConfig())
                    baseline = rig.baseline
                segmenter = segmenters["onnxruntime"]
                size = segmenter.network_size(rig.width, rig.height, rig.focal)
                reference = opencv_pipeline(model, metadata, frame.left, size, disparity, baseline)
                matrices["opencv"].update(reference, frame.train_ids)
                for name, seg in segmenters.items():
                    labels = seg(frame.left, disparity, baseline, focal_length=rig.focal).labels
                    matrices[name].update(labels, frame.train_ids)
                    agree[name].append(float(np.mean(labels == reference)))
            print(
                f"{weights.name} {preset} rig {rig.width}x{rig.height} (network "
                f"{size[0]}x{size[1]}), {args.frames} test frames: OpenCV pipeline mIoU "
                f"{100 * matrices['opencv'].miou():.2f}"
            )
            for name in segmenters:
                print(
                    f"  {name:>11}: labels agree on {100 * np.mean(agree[name]):.3f}%, "
                    f"mIoU {100 * matrices[name].miou():.2f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
