"""Inference speed: ms/frame per backend and size, achieved GFLOP/s vs this machine's matmul.

Runs the Segmenter (pre- and postprocessing included) on random weights of each variant;
speed does not depend on the weights. The machine's dense matmul GFLOP/s is measured in the
same run, so the efficiency column compares like with like.

    .venv/bin/python bench/inference.py                       # the issue's table
    .venv/bin/python bench/inference.py --variants ldn_demo --sizes 512x256 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ladderseg_ros.cli import parse_size
from ladderseg_ros.fileio import write_bytes_atomic
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.model import build_model
from ladderseg_ros.model.info_cli import count_gflops
from ladderseg_ros.weights import WeightsMetadata, save_weights


def matmul_gflops(
    n: int = 2048, runs: int = 5, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> float:
    """Median GEMM throughput in ``dtype`` (compare the network with the same precision)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for _ in range(runs + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times[1:]) / 1e9


def time_segmenter(segmenter: Segmenter, size: tuple[int, int], warmup: int, runs: int) -> float:
    """Median ms per frame."""
    width, height = size
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    disparity = (rng.random((height, width)) * 64).astype(np.float32)
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        segmenter(rgb, disparity, 0.5)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["ldn121", "ldn121_ss"])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(1024, 448), (2048, 1024)])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--half", action="store_true", help="fp16 (torch on CUDA)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", type=Path, default=Path("bench/results/inference.json"))
    args = parser.parse_args()

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    # Each row is compared with a matmul in the precision it ran: fp16 only for the torch
    # backend on CUDA with --half (ONNX Runtime and the CPU run float32).
    dtypes = [torch.float32] + ([torch.float16] if args.half and device.startswith("cuda") else [])
    peaks = {str(d).removeprefix("torch."): matmul_gflops(device=device, dtype=d) for d in dtypes}
    machine = (
        torch.cuda.get_device_name(device)
        if device.startswith("cuda")
        else f"{platform.processor() or 'cpu'}"
    )
    print(f"device {device} ({machine}), {torch.get_num_threads()} threads")
    for name, peak in peaks.items():
        print(f"matmul 2048^3 {name}: {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("LADDERSEG_CACHE", str(Path(tmp) / "cache"))
        for variant in args.variants:
            model = build_model(variant).eval()
            meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
            path = save_weights(Path(tmp) / f"{variant}.safetensors", model, meta)
            with torch.device("meta"):
                counted = build_model(variant)
            gflops = {size: count_gflops(counted, size) for size in args.sizes}
            for backend in args.backends:
                seg = Segmenter.from_weights(path, backend, device, args.half, args.threads)
                for size in args.sizes:
                    flops = gflops[size]
                    ms = time_segmenter(seg, size, args.warmup, args.runs)
                    precision = "float16" if seg.backend_name.endswith(":fp16") else "float32"
                    peak = peaks[precision]
                    achieved = flops / (ms / 1000)
                    row = {
                        "variant": variant,
                        "backend": seg.backend_name,
                        "size": f"{size[0]}x{size[1]}",
                        "ms": round(ms, 2),
                        "fps": round(1000 / ms, 2),
                        "gflops": round(flops, 2),
                        "achieved_gflops_per_s": round(achieved, 1),
                        "precision": precision,
                        "efficiency": round(achieved / peak, 3),
                    }
                    rows.append(row)
                    print(
                        f"{variant:>10} {row['backend']:>34} {row['size']:>10} "
                        f"{ms:9.1f} ms {row['fps']:7.2f} fps {flops:7.1f} GFLOP "
                        f"{achieved:8.1f} GFLOP/s {100 * row['efficiency']:5.1f}%"
                    )
    report = {
        "device": device,
        "machine": machine,
        "matmul_gflops_per_s": peaks,
        "rows": rows,
    }
    write_bytes_atomic(args.json, json.dumps(report, indent=2).encode(), overwrite=True)
    print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
