"""``ladderseg eval``: score a folder of predicted label PNGs against ground truth.

Files are matched by their frame name: the dataset suffixes (``_gtFine_labelIds``,
``_leftImg8bit``, ``_trainIds``, ...) are stripped, so Cityscapes ground truth pairs with
predictions named after the input images. This scores any model's output, not only ours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ladderseg_ros.classes import LABEL_SETS, get_label_set
from ladderseg_ros.cli.args import plain_help
from ladderseg_ros.training.evaluate import evaluate_folders


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``eval`` to the ``ladderseg`` subcommands."""
    p = sub.add_parser(
        "eval",
        help="score predicted label PNGs against ground truth (per-class IoU, mIoU)",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--predictions", required=True, help="folder of predicted label PNGs")
    p.add_argument("--ground-truth", required=True, help="folder of ground-truth label PNGs")
    p.add_argument("--label-set", default="cityscapes", choices=sorted(LABEL_SETS))
    p.add_argument(
        "--gt-ids",
        choices=("raw", "train"),
        default=None,
        help="ground truth holds dataset ids (raw: Cityscapes/KITTI labelIds) or training ids; "
        "default raw where the label set maps ids, else train",
    )
    p.add_argument(
        "--pred-ids",
        choices=("raw", "train"),
        default="train",
        help="predictions hold training ids (default) or dataset ids",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prints the per-class IoU table and mIoU; returns 0."""
    label_set = get_label_set(args.label_set)
    gt_ids = args.gt_ids or ("train" if label_set.raw_to_train is None else "raw")
    cm = evaluate_folders(
        Path(args.predictions), Path(args.ground_truth), label_set, gt_ids, args.pred_ids
    )
    print(cm.format_table(label_set))
    return 0
