"""Scale-selection study: the same recipe, data and budget with and without scale selection.

Trains each of two configs (default: config/training/synthetic_varied_ss.yaml and its twin
synthetic_varied.yaml) with ``ladderseg train``'s own loop for N seeds (``run.seed``; data
seeds are the same), then scores every run on held-out synthetic test frames of the preset
rigs, each camera image shown to the network at focal-length factors 0.5, 0.7, 1.0, 1.4, 2.0
relative to the trained focal length (no resize back: what a network meets when run off its
trained scale), by ground-truth distance band. Scale-selection models read SGBM disparity of
the rendered pair, as the node computes it.

Prints a table (mean +- sample standard deviation over seeds), the level choice (pyramid
levels, factor, reference sizes, where the multiplexer taps) and the histogram of selected
levels per focal factor; writes ``study.json`` and ``study.png`` (mIoU vs focal factor, one
line per model) under ``--out``. Finished runs (``model.safetensors`` present) are reused, so
an interrupted study continues.

    python bench/scale_selection_study.py --out runs/study --seeds 3
    python bench/scale_selection_study.py --out /tmp/s --steps 20 --frames 2   # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from ladderseg_ros.classes import CITYSCAPES, IGNORE_INDEX  # noqa: E402
from ladderseg_ros.training.evaluation import ConfusionMatrix  # noqa: E402

if TYPE_CHECKING:
    import torch

    from ladderseg_ros.model import LadderSeg
    from ladderseg_ros.model.scale_selection import ScaleSelection

REPO = Path(__file__).resolve().parents[1]
FOCAL_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
#: Ground-truth distance bands in metres; "all" keeps every labelled pixel (sky included).
BANDS: dict[str, tuple[float, float]] = {
    "all": (0.0, math.inf),
    "<15 m": (0.0, 15.0),
    "15-30 m": (15.0, 30.0),
    ">30 m": (30.0, math.inf),
}
AUTHORS_LEVELS = (8, 1.3)  # Krešo et al., GCPR 2016

Matrices = dict[tuple[str, int, float, str], ConfusionMatrix]
"""Confusion matrices by (model label, seed, focal factor, band)."""
LevelHook = Callable[
    ["ScaleSelection", "tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]", "torch.Tensor"],
    None,
]
"""A forward hook of the scale-selection module: (module, (features, disparity, baseline),
output)."""


class BandFigures(TypedDict):
    """mIoU (%) of one band over the seeds: mean, sample std and each seed's value."""

    mean: float
    std: float
    seeds: list[float]


class StudyRow(TypedDict):
    """One model at one focal factor: mIoU figures by band name."""

    model: str
    focal_factor: float
    miou: dict[str, BandFigures]


class LevelReport(TypedDict, total=False):
    """The scale-selection models' level choice (empty without such a model).

    Attributes:
        num_levels: pyramid levels.
        factor: scale step between levels.
        level_factors: downsampling factor of each level.
        reference_sizes_m: metric object sizes S in metres.
        receptive_field_px: R, the front-end's receptive field in input pixels.
        tap: backbone output the multiplexer reads.
        tap_stride: that output's stride in pixels.
        authors: the authors' ``num_levels`` and ``factor`` (GCPR 2016).
        selected_level_fraction_by_focal_factor: share of tap-grid pixels per level.
    """

    num_levels: int
    factor: float
    level_factors: list[float]
    reference_sizes_m: list[float]
    receptive_field_px: float
    tap: int
    tap_stride: int
    authors: dict[str, float]
    selected_level_fraction_by_focal_factor: dict[str, list[float]]


class StudyResult(TypedDict):
    """What ``main`` returns and writes to ``study.json``."""

    trained_focal_px: float
    configs: dict[str, str]
    seeds: int
    steps: int
    overrides: list[str]
    frames_per_rig: int
    rigs: list[str]
    bands_m: dict[str, list[float]]
    rows: dict[str, StudyRow]
    levels: LevelReport
    weights: dict[str, list[str]]


@dataclass
class Model:
    """One trained run under evaluation."""

    label: str
    seed: int
    path: Path
    net: LadderSeg
    mean: np.ndarray
    std: np.ndarray
    uses_disparity: bool
    hist: dict[float, np.ndarray] = field(default_factory=dict)


def train_runs(args: argparse.Namespace) -> dict[str, list[Path]]:
    """Train (or reuse) every (config, seed); returns weights paths per model label."""
    from ladderseg_ros.training.config import load_config
    from ladderseg_ros.training.train import train

    runs: dict[str, list[Path]] = {}
    for label, path in (("scale selection", args.config_ss), ("no scale selection", args.config)):
        runs[label] = []
        for seed in range(args.seeds):
            name = f"{Path(path).stem}_seed{seed}"
            out = args.out / name
            overrides = [*args.override, f"run.seed={seed}", f"run.output_dir={out}",
                         f"run.name={name}", "run.export_onnx=false"]  # fmt: skip
            if args.steps:
                config = load_config(path, args.override)
                batch = config.run.batch_size * config.run.accumulate
                overrides += [f"data.num_train={args.steps * batch}", "run.epochs=1",
                              "run.val_every_epochs=1"]  # fmt: skip
            weights = out / "model.safetensors"
            if not weights.is_file():
                print(f"training {name} ({label})", flush=True)
                train(load_config(path, overrides))
            runs[label].append(weights)
    return runs


def trained_focal(path: Path) -> float:
    """The focal length (pixels) a config trains at: ``SyntheticDataset.focal``."""
    from ladderseg_ros.training.batching import build_dataset
    from ladderseg_ros.training.config import load_config

    config = load_config(path)
    if config.data.dataset != "synthetic":
        raise SystemExit(f"{path}: the study renders synthetic frames; data.dataset must be it")
    return float(build_dataset(config.data, config.data.val_split, False, 1).focal)


def load_models(runs: dict[str, list[Path]]) -> list[Model]:
    """Every trained run's network (eval mode) and normalization, per label and seed."""
    from ladderseg_ros.weights import load_weights

    models = []
    for label, paths in runs.items():
        for seed, path in enumerate(paths):
            net, meta = load_weights(path)
            net.eval()
            models.append(
                Model(label, seed, path, net, np.asarray(meta.mean, np.float32) * 255,
                      np.asarray(meta.std, np.float32) * 255, bool(meta.model.uses_disparity))
            )  # fmt: skip
    return models


def _level_hook(model: Model, factor: float) -> LevelHook:
    """Counts the multiplexer's level choices (all reference sizes) into ``model.hist``."""
    import torch.nn.functional as F

    from ladderseg_ros.model.scale_selection import select_levels

    def hook(
        module: ScaleSelection,
        inputs: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor],
        output: torch.Tensor,
    ) -> None:
        features, disparity, baseline = inputs
        grid = F.interpolate(disparity, size=features[0].shape[-2:], mode="nearest")
        counts = model.hist.setdefault(factor, np.zeros(module.config.num_levels, np.int64))
        for size in module.config.reference_sizes:
            levels = select_levels(grid, baseline, size, module.config)
            counts += np.bincount(levels.flatten().numpy(), minlength=len(counts))

    return hook


def predict(
    model: Model, image: np.ndarray, disparity: np.ndarray | None, baseline: float, factor: float
) -> np.ndarray:
    """Labels of one frame at its own size (no resize to the trained scale).

    Args:
        model: the run; a scale-selection model counts its level choices under ``factor``.
        image: (H, W, 3) uint8 RGB.
        disparity: (H, W) float32 pixels (0 = invalid); read by scale-selection models only.
        baseline: metres.
        factor: the focal-length factor the frame was rendered at.

    Returns:
        (H, W) uint8 trainIds.
    """
    import torch

    x = torch.from_numpy(((image.astype(np.float32) - model.mean) / model.std).transpose(2, 0, 1))
    kwargs = {}
    handle = None
    if model.uses_disparity:
        kwargs = {
            "disparity": torch.from_numpy(disparity)[None, None],
            "baseline": torch.tensor([baseline], dtype=torch.float32),
        }
        handle = model.net.scale_selection.register_forward_hook(_level_hook(model, factor))
    try:
        with torch.no_grad():
            logits = model.net(x[None], **kwargs)["out"]
    finally:
        if handle is not None:
            handle.remove()
    return logits.argmax(1)[0].numpy().astype(np.uint8)


def evaluate(args: argparse.Namespace, models: list[Model], focal: float) -> Matrices:
    """Confusion matrices per (model, seed, factor, band) over the held-out frames."""
    from ladderseg_ros.data.synthetic import RIGS, SPLIT_SEEDS, render_frame
    from ladderseg_ros.data.synthetic.cameras import at_focal
    from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
    from ladderseg_ros.stereo import SgbmConfig, compute_disparity

    matrices = {
        (m.label, m.seed, f, b): ConfusionMatrix(CITYSCAPES.num_classes)
        for m in models for f in FOCAL_FACTORS for b in BANDS
    }  # fmt: skip
    seeds = SPLIT_SEEDS["test"][: args.frames]
    for preset in args.presets:
        for factor in FOCAL_FACTORS:
            rig = at_focal(RIGS[preset], factor * focal)
            sgbm = SgbmConfig(num_disparities=sgbm_num_disparities(rig))
            for seed in seeds:
                frame = render_frame(seed, rig)
                disparity = None
                if any(m.uses_disparity for m in models):
                    disparity = compute_disparity(frame.left, frame.right, sgbm)
                depth = np.where(frame.depth > 0, frame.depth, np.inf)
                for m in models:
                    labels = predict(m, frame.left, disparity, rig.baseline, factor)
                    for band, (lo, hi) in BANDS.items():
                        inside = (depth >= lo) & (depth < hi) if band != "all" else True
                        gt = np.where(inside, frame.train_ids, IGNORE_INDEX)
                        matrices[m.label, m.seed, factor, band].update(labels, gt)
            print(f"evaluated {preset} rig at focal x{factor} ({rig.width}x{rig.height})",
                  flush=True)  # fmt: skip
    return matrices


def summarize(models: list[Model], matrices: Matrices) -> dict[str, StudyRow]:
    """Mean and sample std of mIoU (%) over seeds per (model label, factor, band).

    Returns:
        Rows keyed ``"<label> @ x<factor>"``, models in their order, factors ascending.
    """
    labels = list(dict.fromkeys(m.label for m in models))
    seeds = {lab: sorted({m.seed for m in models if m.label == lab}) for lab in labels}
    rows: dict[str, StudyRow] = {}
    for lab in labels:
        for f in FOCAL_FACTORS:
            row: dict[str, BandFigures] = {}
            for b in BANDS:
                values = [100 * float(matrices[lab, s, f, b].miou()) for s in seeds[lab]]
                std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                row[b] = {"mean": float(np.mean(values)), "std": std, "seeds": values}
            rows[f"{lab} @ x{f:g}"] = {"model": lab, "focal_factor": f, "miou": row}
    return rows


def format_table(rows: dict[str, StudyRow], n_seeds: int) -> str:
    """The mIoU table: one line per row, mean +- std per band."""
    head = f"{'model @ focal factor':<28}" + "".join(f"{b:>16}" for b in BANDS)
    lines = [f"mIoU (%), mean +- std over {n_seeds} seed(s), by ground-truth distance", head]
    for key, row in rows.items():
        cells = "".join(
            f"{row['miou'][b]['mean']:>9.2f} +-{row['miou'][b]['std']:>5.2f}" for b in BANDS
        )
        lines.append(f"{key:<28}{cells}")
    return "\n".join(lines)


def level_report(models: list[Model]) -> LevelReport:
    """The scale-selection models' level choice and histogram of selected levels.

    Empty when no model selects scales.
    """
    ss = [m for m in models if m.uses_disparity]
    if not ss:
        return {}
    config = ss[0].net.scale_selection.config
    hist = {}
    for f in FOCAL_FACTORS:
        counts = sum((m.hist[f] for m in ss if f in m.hist), np.zeros(config.num_levels, np.int64))
        hist[f"{f:g}"] = (counts / max(1, counts.sum())).round(4).tolist()
    return {
        "num_levels": config.num_levels,
        "factor": config.factor,
        "level_factors": [round(x, 4) for x in config.level_factors],
        "reference_sizes_m": list(config.reference_sizes),
        "receptive_field_px": config.receptive_field,
        "tap": config.tap,
        "tap_stride": 4 * 2**config.tap,
        "authors": {"num_levels": AUTHORS_LEVELS[0], "factor": AUTHORS_LEVELS[1]},
        "selected_level_fraction_by_focal_factor": hist,
    }


def format_levels(report: LevelReport) -> str:
    """The level choice and the selected-level histogram as text."""
    if not report:
        return "no scale-selection model: no level choice to report"
    lines = [
        f"level choice: {report['num_levels']} pyramid levels x {report['factor']:g} "
        f"(factors {report['level_factors']}; the authors: {AUTHORS_LEVELS[0]} x "
        f"{AUTHORS_LEVELS[1]}), reference sizes {report['reference_sizes_m']} m, receptive "
        f"field {report['receptive_field_px']:g} px; the multiplexer taps backbone output "
        f"{report['tap']} (stride {report['tap_stride']}) and joins the up-path there",
        "selected levels (fraction of tap-grid pixels, all reference sizes):",
        f"{'focal factor':<14}"
        + "".join(f"{'L' + str(i):>8}" for i in range(report["num_levels"])),
    ]
    for f, fractions in report["selected_level_fraction_by_focal_factor"].items():
        lines.append(f"x{f:<13}" + "".join(f"{100 * x:>7.1f}%" for x in fractions))
    return "\n".join(lines)


def plot(path: Path, rows: dict[str, StudyRow]) -> None:
    """Writes mIoU (all pixels) vs focal factor, one line with error bars per model, to ``path``."""
    from ladderseg_ros.training.plots import _figure, _save

    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in dict.fromkeys(r["model"] for r in rows.values()):
        mine = [r for r in rows.values() if r["model"] == label]
        ax.errorbar(
            [r["focal_factor"] for r in mine],
            [r["miou"]["all"]["mean"] for r in mine],
            yerr=[r["miou"]["all"]["std"] for r in mine],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(FOCAL_FACTORS, [f"{f:g}" for f in FOCAL_FACTORS])
    ax.set_xlabel("focal length / trained focal length")
    ax.set_ylabel("mIoU (%), held-out frames")
    ax.grid(True, alpha=0.3)
    ax.legend()
    _save(fig, path)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The study's command line; exits with a usage error on non-positive counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cfg = REPO / "config" / "training"
    parser.add_argument("--config-ss", type=Path, default=cfg / "synthetic_varied_ss.yaml",
                        help="training config of the scale-selection model")  # fmt: skip
    parser.add_argument("--config", type=Path, default=cfg / "synthetic_varied.yaml",
                        help="training config of its twin without scale selection")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="runs and results directory")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per model")
    parser.add_argument("--steps", type=int, default=0,
                        help="budget: optimizer steps per run (one pass over steps x batch "
                        "training seeds); 0 = the configs' own schedule")  # fmt: skip
    parser.add_argument("--override", action="append", default=[], metavar="section.key=value",
                        help="training config override for both models (repeatable)")  # fmt: skip
    parser.add_argument("--frames", type=int, default=20, help="held-out test frames per rig")
    parser.add_argument("--presets", nargs="+", default=["kitti", "cityscapes"],
                        choices=["kitti", "cityscapes"],
                        help="rigs of the held-out frames")  # fmt: skip
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.frames < 1 or args.steps < 0:
        parser.error("--seeds and --frames must be >= 1, --steps >= 0")
    return args


def main(argv: list[str] | None = None) -> StudyResult:
    """Trains (or reuses) the runs, scores them, prints the tables and writes the results.

    Raises:
        SystemExit: a config that does not train on synthetic frames, or two configs at
            different focal lengths.
    """
    import torch

    from ladderseg_ros.fileio import write_bytes_atomic

    args = parse_args(argv)
    torch.set_num_threads(1)
    focal = trained_focal(args.config_ss)
    if abs(trained_focal(args.config) - focal) > 1e-6:
        raise SystemExit("the two configs train at different focal lengths: not one recipe")
    runs = train_runs(args)
    models = load_models(runs)
    matrices = evaluate(args, models, focal)
    rows = summarize(models, matrices)
    levels = level_report(models)
    print(f"\ntrained focal length {focal:.1f} px; {args.frames} test frames per rig "
          f"({', '.join(args.presets)})\n")  # fmt: skip
    print(format_table(rows, args.seeds))
    print()
    print(format_levels(levels))
    result: StudyResult = {
        "trained_focal_px": focal,
        "configs": {"scale selection": str(args.config_ss), "no scale selection": str(args.config)},
        "seeds": args.seeds,
        "steps": args.steps,
        "overrides": args.override,
        "frames_per_rig": args.frames,
        "rigs": args.presets,
        "bands_m": {b: list(v) for b, v in BANDS.items()},
        "rows": rows,
        "levels": levels,
        "weights": {lab: [str(p) for p in paths] for lab, paths in runs.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, default=lambda x: None if x == math.inf else x)
    write_bytes_atomic(args.out / "study.json", text.encode(), overwrite=True)
    plot(args.out / "study.png", rows)
    print(f"\nwrote {args.out / 'study.json'} and {args.out / 'study.png'}")
    return result


if __name__ == "__main__":
    main()
