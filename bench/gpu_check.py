"""GPU check: inference frames/s per precision and layout; a training step's time and memory.

Printed as a table (run by ``bench/gpu_check.sh``; nothing is downloaded).

Inference rows time the network alone (``model(image, disparity, baseline)``, random weights,
batch 1), synchronized per frame: fp32, fp32 channels_last, fp16 and bf16 channels_last
(weights converted, as the torch backend does with ``half``), and fp16 channels_last
replayed from a CUDA graph. The training row times one step (forward, main + auxiliary loss,
backward, Adam) at 2048x1024 batch 2 in fp32 and with bf16 autocast, and reads the peak of
``torch.cuda.max_memory_allocated``.

``--dry-run`` runs every path that exists on a CPU with a tiny model at small sizes in
seconds (CUDA graphs are reported as needing CUDA): a test runs it, so the script that meets
the GPU has run before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ladderseg_ros.cli.args import parse_size
from ladderseg_ros.fileio import write_bytes_atomic
from ladderseg_ros.model import build_model
from ladderseg_ros.training.losses import LossConfig, combine, segmentation_loss_terms

if TYPE_CHECKING:
    from ladderseg_ros.model import LadderSeg

NUM_CLASSES = 19
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[], object], device: torch.device, warmup: int, runs: int) -> float:
    """Median seconds of ``step`` (synchronized around each call)."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _inputs(
    model: LadderSeg, size: tuple[int, int], batch: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    """Random network inputs: image (N, 3, H, W) [, disparity (N, 1, H, W) px, baseline (N,) m]."""
    width, height = size
    image = torch.randn(batch, 3, height, width, device=device, dtype=dtype)
    if not model.uses_disparity:
        return (image,)
    disparity = torch.rand(batch, 1, height, width, device=device) * 64
    return image, disparity, torch.full((batch,), 0.5, device=device)


def inference_fps(
    variant: str, size: tuple[int, int], mode: str, device: torch.device, warmup: int, runs: int
) -> float:
    """Frames/s of ``variant`` at ``size`` (width, height) in ``mode``, batch 1.

    ``mode`` is ``fp32``, ``fp32_cl``, ``fp16_cl``, ``bf16_cl`` or ``fp16_cl_graph`` (``_cl``:
    channels_last; ``_graph``: replayed from a CUDA graph).

    Raises:
        RuntimeError: a CUDA graph asked for on a device that is not CUDA.
    """
    precision = mode.split("_")[0]
    dtype = DTYPES[precision]
    layout = torch.channels_last if "_cl" in mode else torch.contiguous_format
    model = build_model(variant).eval().to(device, dtype).to(memory_format=layout)
    inputs = _inputs(model, size, 1, device, dtype)
    inputs = (inputs[0].contiguous(memory_format=layout), *inputs[1:])
    with torch.inference_mode():
        if not mode.endswith("_graph"):
            return 1.0 / _timed(lambda: model(*inputs), device, warmup, runs)
        if device.type != "cuda":
            raise RuntimeError("CUDA graphs need CUDA")
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                model(*inputs)
        torch.cuda.current_stream(device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            model(*inputs)
        return 1.0 / _timed(graph.replay, device, warmup, runs)


def training_step(
    variant: str,
    size: tuple[int, int],
    batch: int,
    autocast: str,
    device: torch.device,
    warmup: int,
    runs: int,
) -> tuple[float, float | None]:
    """(seconds per step, peak GiB) of one Adam step; ``autocast`` is ``fp32`` or ``bf16``.

    The peak is ``torch.cuda.max_memory_allocated`` during the steps, None on the CPU.
    """
    model = build_model(variant).train().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = _inputs(model, size, batch, device, torch.float32)
    labels = torch.randint(0, NUM_CLASSES, (batch, size[1], size[0]), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=autocast == "bf16"):
            result = model(*inputs)
        terms = segmentation_loss_terms(result["out"], result["aux"], labels, NUM_CLASSES)
        loss = combine(terms, float(terms.main_count), float(terms.aux_count), LossConfig())
        loss.backward()
        optimizer.step()

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    seconds = _timed(step, device, warmup, runs)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak


def main(argv: list[str] | None = None) -> int:
    """Prints and saves (``--json``) the tables.

    Returns:
        0; 1 when a row failed (CUDA graphs on a CPU excepted); 2 without CUDA (unless
        ``--dry-run``).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny model, small sizes, CPU")
    parser.add_argument("--variants", nargs="+", default=["ldn121", "ldn121_ss"])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(1024, 448), (2048, 1024)])
    parser.add_argument(
        "--modes", nargs="+", default=["fp32", "fp32_cl", "fp16_cl", "bf16_cl", "fp16_cl_graph"]
    )
    parser.add_argument("--train-size", type=parse_size, default=(2048, 1024))
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path, default=Path("bench/results/gpu_check.json"))
    args = parser.parse_args(argv)
    if args.dry_run:
        args.variants = ["ldn_tiny", "ldn_tiny_ss"]
        args.sizes, args.train_size = [(128, 64)], (128, 64)
        args.warmup, args.runs = 1, 2
    device = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    if device.type != "cuda" and not args.dry_run:
        print("no CUDA device: use --dry-run to check the script on a CPU", file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = "cpu (dry run)"
    print(f"device: {name}; torch {torch.__version__}; frames/s of the network, batch 1")
    rows = []
    header = f"{'variant':>12} {'size':>10} " + " ".join(f"{m:>14}" for m in args.modes)
    print(header)
    for variant in args.variants:
        for size in args.sizes:
            cells = []
            for mode in args.modes:
                try:
                    fps = inference_fps(variant, size, mode, device, args.warmup, args.runs)
                    cells.append(f"{fps:14.1f}")
                    rows.append({"variant": variant, "size": list(size), "mode": mode, "fps": fps})
                except Exception as exc:  # one failing mode must not hide the others
                    cells.append(f"{'n/a':>14}")
                    rows.append(
                        {
                            "variant": variant,
                            "size": list(size),
                            "mode": mode,
                            "error": f"{type(exc).__name__}: {exc}"[:300],
                        }
                    )
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            print(f"{variant:>12} {size[0]:>4}x{size[1]:<5} " + " ".join(cells))
    for row in rows:
        if "error" in row:
            print(f"  {row['variant']} {row['mode']}: {row['error']}")
    print(f"\ntraining step, {args.train_size[0]}x{args.train_size[1]} batch {args.train_batch}")
    train = []
    for variant in args.variants:
        for autocast in ("fp32", "bf16"):
            try:
                seconds, peak = training_step(
                    variant,
                    args.train_size,
                    args.train_batch,
                    autocast,
                    device,
                    max(1, args.warmup // 5),
                    max(1, args.runs // 10),
                )
                peak_text = f"{peak:.2f} GiB" if peak is not None else "n/a (CPU)"
                print(
                    f"{variant:>12} {autocast:>5}: {1000 * seconds:9.1f} ms/step, peak {peak_text}"
                )
                train.append(
                    {
                        "variant": variant,
                        "autocast": autocast,
                        "ms": 1000 * seconds,
                        "peak_gib": peak,
                    }
                )
            except Exception as exc:
                print(f"{variant:>12} {autocast:>5}: failed ({type(exc).__name__}: {exc})"[:300])
                train.append({"variant": variant, "autocast": autocast, "error": str(exc)[:300]})
            if device.type == "cuda":
                torch.cuda.empty_cache()
    report = {
        "device": name,
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "inference": rows,
        "training": train,
    }
    write_bytes_atomic(args.json, json.dumps(report, indent=2).encode(), overwrite=True)
    print(f"saved {args.json}")
    failed = [r for r in rows + train if "error" in r and "CUDA graphs need" not in r["error"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
