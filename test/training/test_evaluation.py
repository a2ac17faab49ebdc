"""The confusion-matrix evaluator and `ladderseg eval`, against the official Cityscapes one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ladderseg_ros.classes import CITYSCAPES, CITYSCAPES_LABELS, TRAIN_TO_LABEL_ID, VOC
from ladderseg_ros.cli.main import main as cli_main
from ladderseg_ros.training.evaluate import EvalInputError, evaluate_folders
from ladderseg_ros.training.evaluation import ConfusionMatrix, EvaluationError


def test_counts_iou_and_absent_classes() -> None:
    cm = ConfusionMatrix(4)
    gt = np.array([[0, 0, 1, 255], [1, 1, 0, 255]])
    pred = np.array([[0, 1, 1, 3], [1, 1, 0, 0]])
    cm.update(pred, gt)
    assert cm.matrix.dtype == np.int64
    assert cm.matrix.tolist() == [[2, 1, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    iou = cm.iou()
    assert iou[0] == pytest.approx(2 / 3)
    assert iou[1] == pytest.approx(3 / 4)
    assert math.isnan(iou[2])
    assert math.isnan(iou[3])
    assert cm.miou() == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert cm.pixel_accuracy() == pytest.approx(5 / 6)
    # Predicted but absent from ground truth: IoU 0, and it counts.
    cm.update(np.array([2]), np.array([0]))
    assert cm.iou()[2] == 0.0


def test_int64_counts_do_not_overflow() -> None:
    cm = ConfusionMatrix(2)
    cm.matrix[0, 0] = 2**40
    cm.update(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))
    assert cm.matrix[0, 0] == 2**40 + 16


def test_merge_equals_single_accumulation() -> None:
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 5, (3, 20, 30))
    gts = rng.integers(0, 6, (3, 20, 30))
    gts[gts == 5] = 255
    whole, parts = ConfusionMatrix(5), ConfusionMatrix(5)
    for p, g in zip(preds, gts, strict=True):
        whole.update(p, g)
        part = ConfusionMatrix(5)
        part.update(p, g)
        parts += part
    assert np.array_equal(whole.matrix, parts.matrix)


def test_bad_pairs_are_named() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(EvaluationError, match="frame_7.*shape"):
        cm.update(np.zeros((2, 2)), np.zeros((2, 3)), name="frame_7")
    with pytest.raises(EvaluationError, match=r"prediction labels \[5\]"):
        cm.update(np.array([5]), np.array([0]))
    with pytest.raises(EvaluationError, match=r"ground truth labels \[9\]"):
        cm.update(np.array([0]), np.array([9]))


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def _random_cityscapes_pair(rng: np.random.Generator, shape: tuple[int, int]):
    """Ground truth in labelIds (voids included), predictions in trainIds, with some blobs
    so IoUs are not all near 1/19."""
    label_ids = np.array([lab.id for lab in CITYSCAPES_LABELS if lab.id >= 0])
    gt = rng.choice(label_ids, size=shape)
    train_gt = CITYSCAPES.to_train_ids(gt.astype(np.uint8))
    pred = np.where(rng.random(shape) < 0.6, train_gt, rng.integers(0, 19, shape))
    pred[pred == 255] = rng.integers(0, 19, int((pred == 255).sum()))
    pred[pred == 16] = 15  # leave "train" out of the predictions
    return pred.astype(np.uint8), gt.astype(np.uint8)


def test_agrees_with_cityscapesscripts(tmp_path: Path, capsys) -> None:
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    rng = np.random.default_rng(42)
    pred_dir, gt_dir, pred_label_ids = tmp_path / "pred", tmp_path / "gt", tmp_path / "pl"
    pred_files, gt_files = [], []
    for i in range(3):
        name = f"aachen_000000_{i:06d}"
        pred, gt = _random_cityscapes_pair(rng, (48, 64))
        gt[gt == 31] = 7  # no "train" in the ground truth either: absent from both
        _write(pred_dir / f"{name}_leftImg8bit.png", pred)
        _write(gt_dir / "val" / "aachen" / f"{name}_gtFine_labelIds.png", gt)
        _write(gt_dir / "val" / "aachen" / f"{name}_gtFine_color.png", np.zeros((4, 4)))
        _write(pred_label_ids / f"{name}.png", TRAIN_TO_LABEL_ID[pred])
        pred_files.append(str(pred_label_ids / f"{name}.png"))
        gt_files.append(str(gt_dir / "val" / "aachen" / f"{name}_gtFine_labelIds.png"))

    args = official.args
    args.evalInstLevelScore = False
    args.JSONOutput = False
    args.quiet = True
    result = official.evaluateImgLists(pred_files, gt_files, args)

    cm = evaluate_folders(pred_dir, gt_dir, CITYSCAPES)
    ours = dict(zip(CITYSCAPES.names, cm.iou(), strict=True))
    for name, value in ours.items():
        theirs = result["classScores"][name]
        if math.isnan(theirs):
            assert math.isnan(value), name
        else:
            assert value == pytest.approx(theirs, abs=1e-6), name
    assert math.isnan(ours["train"])
    assert cm.miou() == pytest.approx(result["averageScoreClasses"], abs=1e-6)
    for cat, value in cm.category_iou(CITYSCAPES).items():
        assert value == pytest.approx(result["categoryScores"][cat], abs=1e-6), cat
    assert cm.miou() == pytest.approx(np.nanmean(list(result["classScores"].values())), 1e-6)

    assert cli_main(["eval", "--predictions", str(pred_dir), "--ground-truth", str(gt_dir)]) == 0
    table = capsys.readouterr().out
    assert f"{100 * cm.miou():6.2f}" in table
    assert "train" in table
    assert "n/a" in table


def test_eval_cli_bad_inputs_name_the_file(tmp_path: Path, capsys) -> None:
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    _write(gt_dir / "a.png", np.zeros((4, 4)))
    _write(gt_dir / "b.png", np.zeros((4, 4)))
    _write(pred_dir / "a.png", np.zeros((4, 5)))
    with pytest.raises(EvalInputError, match="'b'"):
        evaluate_folders(pred_dir, gt_dir, VOC)
    _write(pred_dir / "b.png", np.zeros((4, 4)))
    with pytest.raises(EvaluationError, match=r"a\.png.*shape"):
        evaluate_folders(pred_dir, gt_dir, VOC)
    _write(pred_dir / "a.png", np.full((4, 4), 30))
    code = cli_main(
        [
            "eval",
            "--predictions",
            str(pred_dir),
            "--ground-truth",
            str(gt_dir),
            "--label-set",
            "voc",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "a.png" in err
    assert "[30]" in err
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(pred_dir / "a.png")
    with pytest.raises(EvalInputError, match="single-channel"):
        evaluate_folders(pred_dir, gt_dir, VOC)
    wide = np.full((4, 4), 300, dtype=np.uint16)
    Image.fromarray(wide).save(gt_dir / "a.png")
    _write(pred_dir / "a.png", np.zeros((4, 4)))
    with pytest.raises(EvalInputError, match=r"a\.png.*outside 0\.\.255"):
        evaluate_folders(pred_dir, gt_dir, CITYSCAPES)
    with pytest.raises(EvalInputError, match="not a directory"):
        evaluate_folders(tmp_path / "nope", gt_dir, VOC)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("aachen_000000_000019_leftImg8bit_labelTrainIds.png", "aachen_000000_000019"),
        ("aachen_000000_000019_gtFine_labelIds.png", "aachen_000000_000019"),
        ("aachen_000000_000019_labelTrainIds.png", "aachen_000000_000019"),
        ("0000000005_pred.png", "0000000005"),
        ("_labelIds.png", "_labelIds"),  # a bare suffix is a name, not an empty key
    ],
)
def test_predictions_of_a_folder_of_cityscapes_images_pair_with_the_ground_truth(
    tmp_path: Path, name: str, key: str
) -> None:
    from ladderseg_ros.training.evaluate import frame_key

    assert frame_key(tmp_path / "val" / name, tmp_path) == key
