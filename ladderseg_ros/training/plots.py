"""End-of-training PNG plots: loss and mIoU curves, normalized confusion matrix (Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.fileio import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> None:
    """Save atomically (``fileio.atomic_output``) so a half-written PNG never appears."""
    with atomic_output(path, overwrite=True, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


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
