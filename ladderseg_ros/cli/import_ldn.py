"""``ladderseg import-ldn CHECKPOINT OUT``: the authors' released LDN weights as ours.

Reads a state dict of GitHub ivankreso/LDN (e.g. ``ldn121_weights_cityscapes_train.pt``) with
``torch.load(weights_only=True)``, maps every tensor onto ``ldn121``/``ldn161``/``ldn169`` and
writes a ``.safetensors`` file with its metadata (Cityscapes classes, the authors'
normalization, trained at 2048x1024 with fx 2262.52 px). Never overwrites unless ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ladderseg_ros.cli.args import plain_help


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``import-ldn`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "import-ldn",
        help="convert the authors' released LDN .pt weights to a .safetensors weights file",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path, help="the authors' .pt state dict")
    parser.add_argument("out", type=Path, help="output .safetensors file")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Converts ``args.checkpoint`` to ``args.out`` and prints its scale; returns 0."""
    from ladderseg_ros.ldn_import import import_ldn

    metadata = import_ldn(args.checkpoint, args.out, overwrite=args.force)
    print(
        f"wrote {args.out}: {metadata.model.name}, {metadata.model.num_classes} classes "
        f"({metadata.label_set}), trained at {metadata.input_size[0]}x{metadata.input_size[1]}, "
        f"fx {metadata.focal_length:g} px"
    )
    return 0
