"""Inference speed per backend and precision, quiet and beside a competing load, in one run.

For each variant, size, backend and precision: ms per frame through the Segmenter (pre- and
postprocessing included; median over rounds and the spread min..max of the round medians),
achieved GFLOP/s (the fp32 network's FLOPs, also for int8), and efficiency against the fp32
matmul GFLOP/s of ONNX Runtime and of torch measured in the same run and the same condition
(int8 rows also against ONNX Runtime's uint8 x int8 matmul, their ceiling).
Each condition is measured twice: quiet, then with a competing process that keeps every core
busy (a torch matmul loop with as many threads as cores, what another job on a car's computer
does); the last column is loaded throughput as a share of quiet throughput.

Weights are random (speed does not depend on them). The load average before the run is
printed: on a machine that other jobs share, "quiet" is only as quiet as they let it be.

    .venv/bin/python bench/inference.py                       # ldn121, ldn121_ss; both sizes
    .venv/bin/python bench/inference.py --variants ldn_demo_ss --sizes 640x192 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import numpy as np

from ladderseg_ros.cli.args import parse_size
from ladderseg_ros.fileio import write_bytes_atomic
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.inference.backends import cpu_threads_default, ort_session_options
from ladderseg_ros.model import build_model
from ladderseg_ros.model.figures import count_gflops
from ladderseg_ros.weights import WeightsMetadata, save_weights

LOAD_SCRIPT = (
    "import sys, torch\n"
    "torch.set_num_threads(int(sys.argv[1]))\n"
    "a = torch.randn(1024, 1024)\n"
    "print('busy', flush=True)\n"
    "while True:\n"
    "    a @ a\n"
)


class _Row(TypedDict):
    variant: str
    backend: str
    precision: str
    size: str
    load: str
    ms: float
    ms_rounds: list[float]
    fps: float
    gflops: float
    achieved_gflops_per_s: float
    efficiency_vs_ort_matmul: float
    efficiency_vs_torch_matmul: float
    efficiency_vs_ort_int8_matmul: float | None


class Row(_Row, total=False):
    """One row of the report: a variant, backend, precision and size in one condition.

    ``loaded_share`` (loaded throughput / quiet throughput) is added when both conditions ran.
    """

    loaded_share: float


class Condition(TypedDict):
    """The figures of one condition (``quiet`` or ``loaded``)."""

    matmul_gflops_per_s: dict[str, float]
    rows: list[Row]


def _median_seconds(step: Callable[[], object], runs: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_matmul_gflops(n: int = 1024, runs: int = 10) -> float:
    """GFLOP/s of torch's fp32 GEMM (n x n x n) with torch's current threads."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _median_seconds(lambda: torch.matmul(a, b), runs) / 1e9


def ort_matmul_gflops(threads: int | None, n: int = 1024, runs: int = 10) -> float:
    """GFLOP/s of ONNX Runtime's fp32 MatMul (n x n x n), session options as the backend's."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    spec = [n, n]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, spec) for x in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, spec)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(
        model.SerializeToString(), ort_session_options(threads), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    feed = {x: rng.standard_normal(spec, dtype=np.float32) for x in "ab"}
    return 2 * n**3 / _median_seconds(lambda: session.run(None, feed), runs) / 1e9


def ort_int8_matmul_gops(threads: int | None, n: int = 1024, runs: int = 10) -> float:
    """GOP/s of ONNX Runtime's integer GEMM (n x n x n), session options as the backend's.

    uint8 activations times int8 weights: the pairing of its int8 convolutions, so the
    ceiling an int8 row can be measured against.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    spec = [n, n]
    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, spec, dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b", "a_zero", "b_zero"], ["c"])],
        "matmul_integer",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, spec)],
        [helper.make_tensor_value_info("c", TensorProto.INT32, spec)],
        [
            numpy_helper.from_array(weights, "b"),
            numpy_helper.from_array(np.array(128, np.uint8), "a_zero"),
            numpy_helper.from_array(np.array(0, np.int8), "b_zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(
        model.SerializeToString(), ort_session_options(threads), providers=["CPUExecutionProvider"]
    )
    feed = {"a": rng.integers(0, 256, spec, dtype=np.uint8)}
    return 2 * n**3 / _median_seconds(lambda: session.run(None, feed), runs) / 1e9


class CompetingLoad:
    """A separate process keeping ``threads`` cores busy with a torch matmul loop."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> CompetingLoad:
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        self.proc = subprocess.Popen(  # a plain torch job: OpenMP's own defaults
            [sys.executable, "-c", LOAD_SCRIPT, str(self.threads)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "busy":
            raise RuntimeError("the competing load did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def time_rounds(
    segmenter: Segmenter, size: tuple[int, int], rounds: int, frames: int
) -> list[float]:
    """Per-round median ms per frame (one untimed warm-up call first)."""
    width, height = size
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    disparity = (rng.random((height, width)) * 64).astype(np.float32)

    def step() -> None:
        segmenter(rgb, disparity, 0.5)

    step()
    return [1000 * _median_seconds(step, frames) for _ in range(rounds)]


def measure(
    args: argparse.Namespace,
    segmenters: dict[tuple[str, str, str], Segmenter],
    gflops: dict[tuple[str, tuple[int, int]], float],
    threads: int,
    load: str,
) -> Condition:
    """Peaks and every row in one condition (``quiet`` or ``loaded``).

    Args:
        args: the command line (``sizes``, ``rounds``, ``frames``).
        segmenters: by (variant, backend, precision).
        gflops: FLOPs of one fp32 frame (GFLOP) by (variant, (width, height)).
        threads: ONNX Runtime threads of the matmul peak.
        load: the condition's name, recorded in each row.
    """
    peaks = {
        "onnxruntime": ort_matmul_gflops(threads),
        "torch": torch_matmul_gflops(),
        "onnxruntime_int8": ort_int8_matmul_gops(threads),
    }
    print(
        f"\n[{load}] fp32 matmul 1024^3: ONNX Runtime {peaks['onnxruntime']:.1f} GFLOP/s, "
        f"torch {peaks['torch']:.1f} GFLOP/s; int8 (uint8 x int8) ONNX Runtime "
        f"{peaks['onnxruntime_int8']:.1f} GOP/s"
    )
    print(
        f"{'variant':>12} {'backend':>32} {'prec':>5} {'size':>10} {'ms':>8} {'spread':>15} "
        f"{'GFLOP/s':>8} {'eff ORT':>7} {'eff torch':>9} {'eff int8':>8}"
    )
    rows: list[Row] = []
    for (variant, _backend, precision), seg in segmenters.items():
        for size in args.sizes:
            times = time_rounds(seg, size, args.rounds, args.frames)
            ms = statistics.median(times)
            achieved = gflops[variant, size] / (ms / 1000)
            row: Row = {
                "variant": variant,
                "backend": seg.backend_name,
                "precision": precision,
                "size": f"{size[0]}x{size[1]}",
                "load": load,
                "ms": round(ms, 2),
                "ms_rounds": [round(t, 2) for t in times],
                "fps": round(1000 / ms, 3),
                "gflops": round(gflops[variant, size], 2),
                "achieved_gflops_per_s": round(achieved, 1),
                "efficiency_vs_ort_matmul": round(achieved / peaks["onnxruntime"], 3),
                "efficiency_vs_torch_matmul": round(achieved / peaks["torch"], 3),
                "efficiency_vs_ort_int8_matmul": (
                    round(achieved / peaks["onnxruntime_int8"], 3) if precision == "int8" else None
                ),
            }
            rows.append(row)
            spread = f"{min(times):.1f}..{max(times):.1f}"
            print(
                f"{variant:>12} {seg.backend_name:>32} {precision:>5} {row['size']:>10} "
                f"{ms:8.1f} {spread:>15} {achieved:8.1f} "
                f"{100 * row['efficiency_vs_ort_matmul']:6.1f}% "
                f"{100 * row['efficiency_vs_torch_matmul']:8.1f}% "
                + (
                    f"{100 * row['efficiency_vs_ort_int8_matmul']:7.1f}%"
                    if row["efficiency_vs_ort_int8_matmul"] is not None
                    else f"{'-':>8}"
                )
            )
    return {"matmul_gflops_per_s": peaks, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """Measures and prints the tables (saved to ``--json`` when given); returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["ldn121", "ldn121_ss"])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(1024, 448), (2048, 1024)])
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "int8"])
    parser.add_argument("--threads", type=int, help="CPU threads (default: the library's)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per row (spread)")
    parser.add_argument("--frames", type=int, default=3, help="timed frames per round")
    parser.add_argument("--load", choices=("both", "quiet", "loaded"), default="both")
    parser.add_argument(
        "--json", type=Path, help="also save the rows here (replaced if it exists; default: none)"
    )
    args = parser.parse_args(argv)

    threads = args.threads or cpu_threads_default()
    conditions = ["quiet", "loaded"] if args.load == "both" else [args.load]
    report: dict = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": args.threads or "library defaults",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_before": os.getloadavg(),
        "conditions": {},
    }
    print(
        f"{report['cpu']}, threads {report['threads']}, OMP_WAIT_POLICY "
        f"{report['omp_wait_policy']}, load average {os.getloadavg()[0]:.2f} before"
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LADDERSEG_CACHE"] = str(Path(tmp) / "cache")
        segmenters, gflops = {}, {}
        for variant in args.variants:
            model = build_model(variant).eval()
            meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
            path = save_weights(Path(tmp) / f"{variant}.safetensors", model, meta)
            import torch  # after ladderseg_ros: its OpenMP setting applies, as for users

            with torch.device("meta"):
                counted = build_model(variant)
            gflops.update({(variant, s): count_gflops(counted, s) for s in args.sizes})
            for backend in args.backends:
                for precision in args.precisions:
                    if precision == "int8" and backend != "onnxruntime":
                        continue
                    segmenters[variant, backend, precision] = Segmenter.from_weights(
                        path,
                        backend,
                        "cpu",
                        threads=args.threads,
                        precision=precision,
                        input_size=None,
                    )
        for load in conditions:
            if load == "loaded":
                with CompetingLoad(os.cpu_count() or 1):
                    report["conditions"][load] = measure(args, segmenters, gflops, threads, load)
            else:
                report["conditions"][load] = measure(args, segmenters, gflops, threads, load)
    if len(conditions) == 2:
        print("\nloaded throughput as a share of quiet throughput")
        quiet, loaded = (report["conditions"][c]["rows"] for c in conditions)
        for q, ld in zip(quiet, loaded, strict=True):
            share = q["ms"] / ld["ms"]
            q["loaded_share"] = ld["loaded_share"] = round(share, 3)
            print(
                f"{q['variant']:>12} {q['backend']:>32} {q['precision']:>5} {q['size']:>10} "
                f"{q['ms']:8.1f} -> {ld['ms']:8.1f} ms  {100 * share:5.1f}%"
            )
    if args.json is not None:
        write_bytes_atomic(args.json, json.dumps(report, indent=2).encode(), overwrite=True)
        print(f"saved {args.json}")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


if __name__ == "__main__":
    raise SystemExit(main())
