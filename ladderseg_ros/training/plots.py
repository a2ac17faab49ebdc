"""End-of-training PNG plots: loss and mIoU curves, normalized confusion matrix (Agg)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Save atomically (temp name + rename) so a half-written PNG never appears."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plot_curves(
    path: str | Path,
    loss_steps: Sequence[int],
    losses: Sequence[float],
    val_steps: Sequence[int],
    mious: Sequence[float],
) -> None:
    """Training loss (raw and smoothed) and validation mIoU against the optimizer step."""
    plt = _figure()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if len(losses):
        ax1.plot(loss_steps, losses, alpha=0.35, label="loss")
        k = max(1, len(losses) // 20)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax1.plot(list(loss_steps)[k - 1 :], smooth, label=f"mean of {k}")
        ax1.legend()
    ax1.set(xlabel="step", ylabel="training loss", title="loss")
    ax1.grid(alpha=0.3)
    ax2.plot(val_steps, [100 * m for m in mious], marker="o")
    ax2.set(xlabel="step", ylabel="mIoU (%)", title="validation mIoU")
    ax2.grid(alpha=0.3)
    _save(fig, Path(path))
    plt.close(fig)


def plot_confusion(path: str | Path, matrix: np.ndarray, names: Sequence[str]) -> None:
    """Row-normalized confusion matrix (rows: ground truth) with class names."""
    plt = _figure()
    m = matrix.astype(np.float64)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.45 * n + 3, 0.45 * n + 2))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), names)
    ax.set(xlabel="prediction", ylabel="ground truth", title="confusion (row-normalized)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    _save(fig, Path(path))
    plt.close(fig)
