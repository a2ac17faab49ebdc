"""Score a folder of predicted label PNGs against ground truth (``ladderseg eval``).

Files are matched by their frame name: the dataset suffixes (``_gtFine_labelIds``,
``_leftImg8bit``, ``_trainIds``, ...) are stripped, so Cityscapes ground truth pairs with
predictions named after the input images. This scores any model's output, not only ours.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ladderseg_ros.classes import LabelError, LabelSet
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.training.evaluation import ConfusionMatrix

LOG = logging.getLogger(__name__)

# Longest first: a name ends with at most one of these.
_SUFFIXES = (
    "_gtFine_labelTrainIds",
    "_gtFine_labelIds",
    "_gtFine_trainIds",
    "_leftImg8bit",
    "_labelTrainIds",
    "_labelIds",
    "_trainIds",
    "_pred",
)
_NOT_LABELS = ("_color", "_instanceIds", "_overlay", "_confidence", "_disparity")


class EvalInputError(LadderSegError):
    """A label file or folder cannot be evaluated."""


def frame_key(path: Path, root: Path) -> str:
    """The frame name of a label file: its path under ``root`` without dataset suffixes.

    Suffixes are stripped as long as one ends the name: ``predict`` on a folder of
    Cityscapes images writes ``X_leftImg8bit_labelTrainIds.png``, which pairs with the
    ground truth's ``X_gtFine_labelIds.png`` as ``X``.
    """
    name = path.relative_to(root).with_suffix("").name
    stripped = True
    while stripped:
        stripped = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                stripped = True
                break
    return name


def label_files(root: Path) -> dict[str, Path]:
    """All label PNGs under ``root`` by frame name (colour/instance images skipped).

    A Cityscapes ``gtFine`` tree holds several PNGs per frame; only ``*_labelIds.png`` are
    taken there.
    """
    if not root.is_dir():
        raise EvalInputError(f"{root} is not a directory")
    pngs = sorted(p for p in root.rglob("*.png") if not p.stem.endswith(_NOT_LABELS))
    if any(p.stem.endswith("_gtFine_labelIds") for p in pngs):
        pngs = [p for p in pngs if p.stem.endswith("_gtFine_labelIds")]
    files: dict[str, Path] = {}
    for path in pngs:
        key = frame_key(path, root)
        if key in files:
            raise EvalInputError(f"{path} and {files[key]} have the same frame name {key!r}")
        files[key] = path
    if not files:
        raise EvalInputError(f"no label PNG files under {root}")
    return files


def _read_labels(path: Path, stored: bool = False) -> np.ndarray:
    """The label reader of the datasets (cv2 is imported with it: not at CLI start-up).

    ``stored``: labels as a dataset stores them, colour masks included (a class set decodes
    them); else single-channel ids only.
    """
    from ladderseg_ros.data.sample import DatasetError, read_label_png

    try:
        if stored:
            from ladderseg_ros.data.folder import read_stored_labels

            return read_stored_labels(path, colors=False)
        return read_label_png(path, wide=True)
    except DatasetError as exc:
        raise EvalInputError(str(exc)) from exc


def evaluate_folders(
    predictions: Path,
    ground_truth: Path,
    label_set: LabelSet,
    gt_ids: str = "raw",
    pred_ids: str = "train",
) -> ConfusionMatrix:
    """Accumulate the confusion matrix over all ground-truth frames.

    Args:
        predictions: folder of predicted label PNGs.
        ground_truth: folder of ground-truth label PNGs (every frame needs a prediction).
        label_set: the classes, and the map from dataset ids to training ids.
        gt_ids: ``raw`` = the dataset's stored labels (Cityscapes labelIds, a class set's
            stored ids or colour masks, decoded by the label set: a value it does not declare
            is an error naming the file), ``train`` = training ids already.
        pred_ids: the same for the predictions.

    Returns:
        The confusion matrix over every ground-truth frame.

    Raises:
        EvalInputError: A ground-truth frame has no prediction, or files cannot be read.
        EvaluationError: Sizes differ or labels are out of range (names the file).
    """
    preds = label_files(predictions)
    gts = label_files(ground_truth)
    missing = sorted(set(gts) - set(preds))
    if missing:
        first = gts[missing[0]]
        raise EvalInputError(
            f"no prediction in {predictions} for {len(missing)} ground-truth frame(s), "
            f"first: {missing[0]!r} ({first})"
        )
    extra = len(set(preds) - set(gts))
    if extra:
        LOG.warning("%d prediction(s) in %s have no ground truth; ignored", extra, predictions)
    cm = ConfusionMatrix(label_set.num_classes)
    for key, gt_path in gts.items():
        gt = _read_labels(gt_path, stored=gt_ids == "raw")
        pred = _read_labels(preds[key])
        if gt_ids == "raw":
            try:
                gt = label_set.decode(gt, gt_path)
            except LabelError as exc:
                raise EvalInputError(str(exc)) from exc
        try:
            if pred_ids == "raw":
                pred = label_set.to_train_ids(pred)
        except LabelError as exc:
            raise EvalInputError(f"{preds[key]} vs {gt_path}: {exc}") from exc
        cm.update(pred, gt, name=f"{preds[key]} vs {gt_path}")
    return cm
