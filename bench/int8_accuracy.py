"""int8 vs fp32 accuracy on held-out synthetic frames: per-class IoU, mIoU loss, agreement.

Builds the fp32 and the int8 ONNX Runtime models of WEIGHTS exactly as the Segmenter does
(``precision="int8"``: static QDQ quantization calibrated on validation seeds of the synthetic
world), then segments frames of the test seeds (never seen in calibration or training) with
both, on SGBM disparity as the node computes it. Prints each class's IoU under both, the mIoU
loss and the share of pixels on which the two agree, against the targets (loss <= 1.0 mIoU,
agreement >= 98%); exits 1 when a target is missed.

    .venv/bin/python bench/int8_accuracy.py                    # the demo model, 100 frames
    .venv/bin/python bench/int8_accuracy.py runs/x/model.safetensors --frames 50
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ladderseg_ros.cli.args import parse_size
from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS, render_frame
from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
from ladderseg_ros.fileio import write_bytes_atomic
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.stereo import SgbmConfig, compute_disparity
from ladderseg_ros.training.evaluation import ConfusionMatrix

DEMO = Path(__file__).resolve().parents[1] / "ladderseg_ros" / "assets" / "ldn_demo.safetensors"
MAX_MIOU_LOSS = 1.0
MIN_AGREEMENT = 0.98


def main(argv: list[str] | None = None) -> int:
    """Scores fp32 and int8 on held-out frames, prints the tables and saves ``--json``.

    Returns:
        0 when the int8 model meets both targets (``MAX_MIOU_LOSS``, ``MIN_AGREEMENT``),
        else 1.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="?", default=DEMO)
    parser.add_argument("--frames", type=int, default=100, help="held-out test frames")
    parser.add_argument("--size", type=parse_size, help="WxH (default: the weights' size)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", type=Path, default=Path("bench/results/int8_accuracy.json"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LADDERSEG_CACHE"] = tmp  # calibrate afresh: measure what the code makes
        runs = {
            p: Segmenter.from_weights(
                args.weights,
                "onnxruntime",
                "cpu",
                threads=args.threads,
                precision=p,
                input_size=args.size,
            )
            for p in ("fp32", "int8")
        }
    metadata = runs["fp32"].metadata
    size = args.size or metadata.input_size or (640, 192)
    rig = KITTI_RIG.resized(*size)
    sgbm = SgbmConfig(num_disparities=sgbm_num_disparities(rig))
    label_set = runs["fp32"].label_set
    matrices = {p: ConfusionMatrix(label_set.num_classes) for p in runs}
    seconds = {p: 0.0 for p in runs}
    agree = total = 0
    for seed in SPLIT_SEEDS["test"][: args.frames]:
        frame = render_frame(seed, rig)
        disparity = compute_disparity(frame.left, frame.right, sgbm)
        labels = {}
        for precision, seg in runs.items():
            start = time.perf_counter()
            result = seg(frame.left, disparity, rig.baseline)
            seconds[precision] += time.perf_counter() - start
            labels[precision] = result.labels
            matrices[precision].update(result.labels, frame.train_ids)
        agree += int(np.count_nonzero(labels["fp32"] == labels["int8"]))
        total += labels["fp32"].size

    iou = {p: m.iou() for p, m in matrices.items()}
    print(
        f"{args.weights} ({metadata.model.name}), {args.frames} test frames at {size[0]}x{size[1]}"
    )
    print(f"{'class':<16} {'fp32 IoU':>9} {'int8 IoU':>9} {'delta':>7}")
    for c, name in enumerate(label_set.names):
        a, b = 100 * iou["fp32"][c], 100 * iou["int8"][c]
        if math.isnan(a) and math.isnan(b):
            print(f"{name:<16} {'absent':>9} {'absent':>9}")
        else:
            print(f"{name:<16} {a:9.2f} {b:9.2f} {b - a:+7.2f}")
    miou = {p: 100 * m.miou() for p, m in matrices.items()}
    loss = miou["fp32"] - miou["int8"]
    agreement = agree / total
    ms = {p: 1000 * seconds[p] / args.frames for p in runs}
    print(f"{'mIoU':<16} {miou['fp32']:9.2f} {miou['int8']:9.2f} {-loss:+7.2f}")
    print(
        f"mIoU loss {loss:.2f} (target <= {MAX_MIOU_LOSS}); labels agree on "
        f"{100 * agreement:.2f}% of pixels (target >= {100 * MIN_AGREEMENT:.0f}%)"
    )
    print(
        f"ms/frame (Segmenter, {args.threads or 'default'} threads): fp32 {ms['fp32']:.1f}, "
        f"int8 {ms['int8']:.1f}"
    )
    met = loss <= MAX_MIOU_LOSS and agreement >= MIN_AGREEMENT
    print("targets met" if met else "TARGETS MISSED")
    report = {
        "weights": str(args.weights),
        "frames": args.frames,
        "size": list(size),
        "classes": list(label_set.names),
        "iou": {p: [None if math.isnan(v) else round(100 * v, 3) for v in iou[p]] for p in iou},
        "miou": miou,
        "miou_loss": loss,
        "agreement": agreement,
        "ms_per_frame": ms,
        "load_average": os.getloadavg(),
    }
    write_bytes_atomic(args.json, json.dumps(report, indent=2).encode(), overwrite=True)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
