"""Peak memory of one training step: ladder up-path vs a full-resolution decoder, +/- checkpointing.

Each configuration runs in its own subprocess (peak RSS on CPU is per process; CUDA peak via
``torch.cuda.max_memory_allocated`` when a GPU exists). The process peak includes the torch
import and the model build, the same in every case, so the ratios use the step's own
increase: peak during the step minus the RSS after the build (``/proc/self/statm``; the
kernel's peak counter is reset there via ``/proc/self/clear_refs`` where allowed, else the
process peak ``ru_maxrss`` stands in, which is the larger of the two). On CUDA likewise:
peak allocated during the step minus allocated before it. The full-resolution decoder is of the
FC-DenseNet kind: the ladder's 1/4 features are upsampled to 1/2 and 1/1 with a dense block
(4 layers, growth 16) at each resolution before the classifier.

    .venv/bin/python bench/train_memory.py [--variant ldn121] [--size 1024x512] [--batch 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import TYPE_CHECKING, TypedDict

from ladderseg_ros.cli.args import parse_size

CASES = (("ladder", False), ("ladder", True), ("fullres", False), ("fullres", True))

if TYPE_CHECKING:
    from torch import nn


class StepMemory(TypedDict):
    """Memory and time of one training step (``run_case``); MB are 2**20 bytes.

    Attributes:
        rss_mb: peak RSS of the process (since the build when ``peak_since_build``).
        build_mb: RSS after the model build, before the step.
        step_mb: the step's own increase, ``rss_mb - build_mb``.
        peak_since_build: whether the kernel's peak counter could be reset after the build.
        cuda_mb: peak CUDA memory allocated, or None on the CPU.
        cuda_step_mb: its increase over the allocation before the step, or None on the CPU.
        seconds: wall time of the step.
    """

    rss_mb: float
    build_mb: float
    step_mb: float
    peak_since_build: bool
    cuda_mb: float | None
    cuda_step_mb: float | None
    seconds: float


def _rss_mb() -> float:
    """Resident set size now (``/proc/self/statm``, Linux)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS counter (VmHWM) from the current RSS; False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb(reset: bool) -> float:
    """Peak RSS since the reset (VmHWM), or of the whole process (ru_maxrss) without one."""
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fullres_head(width: int, num_classes: int) -> nn.Module:
    """An FC-DenseNet-style decoder: (N, width, h, w) -> (N, num_classes, 4h, 4w) logits."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class DenseStage(nn.Module):
        def __init__(self, cin: int, growth: int = 16, layers: int = 4) -> None:
            super().__init__()
            self.layers = nn.ModuleList(
                nn.Sequential(
                    nn.BatchNorm2d(cin + i * growth),
                    nn.ReLU(),
                    nn.Conv2d(cin + i * growth, growth, 3, padding=1, bias=False),
                )
                for i in range(layers)
            )
            self.out_channels = cin + layers * growth

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            feats = [x]
            for layer in self.layers:
                feats.append(layer(torch.cat(feats, 1)))
            return torch.cat(feats, 1)

    class FullResHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stage2 = DenseStage(width)
            self.stage1 = DenseStage(self.stage2.out_channels)
            self.cls = nn.Conv2d(self.stage1.out_channels, num_classes, 1)

        def forward(self, y: torch.Tensor) -> torch.Tensor:
            y = self.stage2(F.interpolate(y, scale_factor=2, mode="bilinear"))
            y = self.stage1(F.interpolate(y, scale_factor=2, mode="bilinear"))
            return self.cls(y)

    return FullResHead()


def run_case(
    variant: str, decoder: str, checkpointing: bool, w: int, h: int, batch: int
) -> StepMemory:
    """One Adam step of ``variant`` with ``decoder`` (``ladder`` or ``fullres``), w x h, batch."""
    import dataclasses

    import torch

    from ladderseg_ros.model import VARIANTS, build_model
    from ladderseg_ros.training.losses import LossConfig, combine, segmentation_loss_terms

    cfg = VARIANTS[variant]
    model = build_model(
        cfg, 19, backbone=dataclasses.replace(cfg.backbone, checkpointing=checkpointing)
    )
    if decoder == "fullres":
        model.head = _fullres_head(cfg.up_widths[-1], 19)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, h, w, device=device)
    y = torch.randint(0, 19, (batch, h, w), device=device)
    kwargs = {}
    if model.uses_disparity:
        kwargs = {
            "disparity": torch.rand(batch, 1, h, w, device=device) * 50,
            "baseline": torch.full((batch,), 0.5, device=device),
        }
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated() / 2**20
    build_mb = _rss_mb()
    reset = _reset_peak_rss()
    t0 = time.perf_counter()
    out = model(x, **kwargs)
    terms = segmentation_loss_terms(out["out"], out["aux"], y, 19)
    loss = combine(terms, float(terms.main_count), float(terms.aux_count), LossConfig())
    loss.backward()
    opt.step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak_mb = _peak_rss_mb(reset)
    cuda_mb = cuda_step_mb = None
    if cuda:
        cuda_mb = torch.cuda.max_memory_allocated() / 2**20
        cuda_step_mb = cuda_mb - cuda_before
    return {
        "rss_mb": peak_mb,
        "build_mb": build_mb,
        "step_mb": peak_mb - build_mb,
        "peak_since_build": reset,
        "cuda_mb": cuda_mb,
        "cuda_step_mb": cuda_step_mb,
        "seconds": seconds,
    }


def main() -> int:
    """Runs each case in its own process and prints the table and ratios; 1 if a case failed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="ldn121")
    p.add_argument("--size", default="1024x512", type=parse_size, help="WIDTHxHEIGHT")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args()
    w, h = args.size
    if args.case:
        decoder, ckpt = args.case.split(":")
        print(json.dumps(run_case(args.variant, decoder, ckpt == "1", w, h, args.batch)))
        return 0
    results = {}
    for decoder, ckpt in CASES:
        cmd = [
            sys.executable,
            __file__,
            "--variant",
            args.variant,
            "--size",
            f"{w}x{h}",
            "--batch",
            str(args.batch),
            "--case",
            f"{decoder}:{int(ckpt)}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{decoder} ckpt={ckpt}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            return 1
        results[(decoder, ckpt)] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"one training step, {args.variant}, batch {args.batch} at {w}x{h}")
    print(
        f"{'decoder':10s} {'checkpoint':>10s} {'peak RSS MB':>12s} {'built MB':>9s} "
        f"{'step MB':>8s} {'CUDA MB':>8s} {'CUDA step':>9s} {'s':>7s}"
    )
    for (decoder, ckpt), r in results.items():
        cuda = f"{r['cuda_mb']:.0f}" if r["cuda_mb"] is not None else "-"
        cuda_step = f"{r['cuda_step_mb']:.0f}" if r["cuda_step_mb"] is not None else "-"
        print(
            f"{decoder:10s} {ckpt!s:>10s} {r['rss_mb']:12.0f} {r['build_mb']:9.0f} "
            f"{r['step_mb']:8.0f} {cuda:>8s} {cuda_step:>9s} {r['seconds']:7.1f}"
        )
    if not all(r["peak_since_build"] for r in results.values()):
        print("note: /proc/self/clear_refs refused: step MB = process peak - RSS after build")
    keys = ["step_mb"] + (["cuda_step_mb"] if results[("ladder", False)]["cuda_mb"] else [])
    for key in keys:
        print(f"ratios of the step's increase ({'CUDA' if 'cuda' in key else 'RSS'}):")

        def ratio(a: tuple[str, bool], b: tuple[str, bool], key: str = key) -> float:
            return results[a][key] / results[b][key]

        print(
            f"  fullres / ladder (no checkpointing): "
            f"{ratio(('fullres', False), ('ladder', False)):.2f}"
        )
        print(
            f"  ladder no-ckpt / ckpt:               "
            f"{ratio(('ladder', False), ('ladder', True)):.2f}"
        )
        print(
            f"  fullres no-ckpt / ckpt:              "
            f"{ratio(('fullres', False), ('fullres', True)):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
