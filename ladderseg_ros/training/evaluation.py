"""Confusion-matrix evaluation of semantic segmentation (IoU, mIoU, accuracy, categories).

Counts are int64 so that whole full-resolution datasets accumulate without overflow, and a
class absent from both prediction and ground truth has IoU NaN ("not present"), never 0 or 1:
averaging skips it, as the official Cityscapes evaluator does.
"""

from __future__ import annotations

import numpy as np

from ladderseg_ros.classes import IGNORE_INDEX, LabelSet
from ladderseg_ros.errors import LadderSegError


class EvaluationError(LadderSegError, ValueError):
    """Predictions and ground truth cannot be compared (shape or label range)."""


class ConfusionMatrix:
    """Accumulates a (num_classes x num_classes) matrix; rows ground truth, columns predictions.

    Ground-truth pixels equal to ``ignore_index`` are skipped.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if num_classes < 1:
            raise EvaluationError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray, name: str = "prediction") -> None:
        """Add one prediction / ground-truth pair of equal shape (any integer dtype).

        Raises:
            EvaluationError: Shapes differ, or a label is outside ``0..num_classes-1``
                (ground truth may also hold ``ignore_index``); the message names ``name``.
        """
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape:
            raise EvaluationError(
                f"{name}: prediction shape {pred.shape} != ground truth shape {gt.shape}"
            )
        valid = gt != self.ignore_index
        gt_v = gt[valid].astype(np.int64)
        pred_v = pred[valid].astype(np.int64)
        n = self.num_classes
        for what, values in (("ground truth", gt_v), ("prediction", pred_v)):
            if values.size and (values.min() < 0 or values.max() >= n):
                bad = np.unique(values[(values < 0) | (values >= n)])[:10].tolist()
                raise EvaluationError(
                    f"{name}: {what} labels {bad} outside 0..{n - 1}"
                    + (f" (and {self.ignore_index} = ignore)" if what == "ground truth" else "")
                )
        self.matrix += np.bincount(gt_v * n + pred_v, minlength=n * n).reshape(n, n)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another accumulator's counts (e.g. from another worker) into this one."""
        if other.num_classes != self.num_classes:
            raise EvaluationError(
                f"cannot merge a {other.num_classes}-class matrix into {self.num_classes}"
            )
        self.matrix += other.matrix
        return self

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def reset(self) -> None:
        """Zeroes the matrix."""
        self.matrix[...] = 0

    @property
    def total(self) -> int:
        """Pixels counted (ignored ones excluded)."""
        return int(self.matrix.sum())

    def iou(self) -> np.ndarray:
        """Per-class IoU (float64); NaN where the class is in neither prediction nor truth."""
        tp = np.diag(self.matrix).astype(np.float64)
        fn = self.matrix.sum(axis=1) - tp
        fp = self.matrix.sum(axis=0) - tp
        denom = tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU over the classes present (NaN when nothing was counted)."""
        iou = self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def pixel_accuracy(self) -> float:
        """Correct pixels over counted pixels; NaN when none were counted."""
        total = self.total
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def class_accuracy(self) -> np.ndarray:
        """Per-class recall; NaN for classes without ground-truth pixels."""
        rows = self.matrix.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(rows > 0, np.diag(self.matrix) / np.maximum(rows, 1), np.nan)

    def category_iou(self, label_set: LabelSet) -> dict[str, float]:
        """IoU of class groups (Cityscapes categories), computed on the merged matrix."""
        if label_set.categories is None:
            raise EvaluationError(f"label set {label_set.name!r} has no categories")
        if label_set.num_classes != self.num_classes:
            raise EvaluationError(
                f"label set {label_set.name!r} has {label_set.num_classes} classes, "
                f"the matrix {self.num_classes}"
            )
        cats = np.asarray(label_set.categories)
        result: dict[str, float] = {}
        for cat in dict.fromkeys(label_set.categories):
            members = cats == cat
            tp = self.matrix[np.ix_(members, members)].sum()
            fn = self.matrix[members].sum() - tp
            fp = self.matrix[:, members].sum() - tp
            denom = tp + fp + fn
            result[cat] = float(tp / denom) if denom else float("nan")
        return result

    def normalized(self) -> np.ndarray:
        """Row-normalized matrix (each ground-truth class sums to 1; empty rows are 0)."""
        rows = self.matrix.sum(axis=1, keepdims=True).astype(np.float64)
        return self.matrix / np.maximum(rows, 1)

    def format_table(self, label_set: LabelSet) -> str:
        """A per-class table (IoU, accuracy, pixels) followed by the summary figures."""
        if label_set.num_classes != self.num_classes:
            raise EvaluationError(
                f"label set {label_set.name!r} has {label_set.num_classes} classes, "
                f"the matrix {self.num_classes}"
            )
        iou, acc = self.iou(), self.class_accuracy()
        pixels = self.matrix.sum(axis=1)
        row_names = [*label_set.names, *("cat " + c for c in label_set.categories or ())]
        width = max(12, *(len(n) for n in row_names))
        lines = [f"{'class':<{width}}  {'IoU':>6}  {'acc':>6}  {'gt pixels':>12}"]
        for i, name in enumerate(label_set.names):
            lines.append(f"{name:<{width}}  {_pct(iou[i])}  {_pct(acc[i])}  {int(pixels[i]):>12d}")
        lines.append("-" * len(lines[0]))
        present = int(np.isfinite(iou).sum())
        lines.append(f"{'mIoU':<{width}}  {_pct(self.miou())}  ({present} classes present)")
        lines.append(f"{'pixel acc':<{width}}  {_pct(self.pixel_accuracy())}")
        if label_set.categories is not None:
            for cat, value in self.category_iou(label_set).items():
                lines.append(f"{'cat ' + cat:<{width}}  {_pct(value)}")
        return "\n".join(lines)


def _pct(value: float) -> str:
    return "   n/a" if not np.isfinite(value) else f"{100.0 * value:6.2f}"
