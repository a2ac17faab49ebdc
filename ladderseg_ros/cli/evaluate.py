"""``ladderseg eval``: score a folder of predicted label PNGs against ground truth.

Files are matched by their frame name: the dataset suffixes (``_gtFine_labelIds``,
``_leftImg8bit``, ``_trainIds``, ...) are stripped, so Cityscapes ground truth pairs with
predictions named after the input images. This scores any model's output, not only ours.

The classes (``--label-set``) are a built-in set, a class set file (YAML, CVAT
``labelmap.txt``, Vistas ``config.json``) or weights (the class set they carry): per-class
IoU by its names. Ground truth in stored values (``--gt-ids raw``: ids, or RGB colour masks)
is decoded by the class set; a value it does not declare is an error naming the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ladderseg_ros.classes import LABEL_SETS
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
    p.add_argument(
        "--label-set",
        "--classes",
        default="cityscapes",
        metavar="NAME|FILE",
        help=f"built-in class set ({', '.join(sorted(LABEL_SETS))}), class set file or weights",
    )
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
    from ladderseg_ros.cli.classes import class_set_of

    label_set = class_set_of(args.label_set)
    gt_ids = args.gt_ids or ("train" if label_set.raw_to_train is None else "raw")
    cm = evaluate_folders(
        Path(args.predictions), Path(args.ground_truth), label_set, gt_ids, args.pred_ids
    )
    print(cm.format_table(label_set))
    return 0
