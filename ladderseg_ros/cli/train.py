"""``ladderseg train``: argument parsing only.

``ladderseg --help`` does not import torch: the training loop (``training.train``) is
imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Trains from ``args.config`` with its overrides (and ``--resume``); returns 0."""
    from ladderseg_ros.training.config import load_config
    from ladderseg_ros.training.train import CHECKPOINT_NAME, train

    config = load_config(args.config, args.overrides)
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else Path(config.run.output_dir) / CHECKPOINT_NAME
    train(config, resume)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``train`` to the ``ladderseg`` subcommands."""
    p = subparsers.add_parser(
        "train",
        help="train a model from a YAML config (torchrun for several GPUs/nodes)",
        description=(
            "Train a Ladder-DenseNet from config/training/<name>.yaml. Overrides are "
            "section.key=value (e.g. run.epochs=2 optim.lr=1e-4). Ctrl-C checkpoints and "
            "stops; --resume continues exactly. Multi-GPU: torchrun --nproc-per-node=N "
            "-m ladderseg_ros.cli train ..."
        ),
    )
    p.add_argument("--config", required=True, help="training config YAML")
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CHECKPOINT",
        help="continue from CHECKPOINT (default: <run.output_dir>/last.pt)",
    )
    p.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides")
    p.set_defaults(func=run)
