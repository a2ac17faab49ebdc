"""``ladderseg info MODEL``: parameters, GFLOPs at given sizes, output stride of a network.

MODEL is a variant name (``ldn121``, ``ldn121_ss``, ...), a ``.safetensors`` weights file or
a network graph from ``ladderseg export`` (``.onnx``; a camera graph is refused).
Parameters are those inference uses (auxiliary heads, a training aid, are not counted).
FLOPs are counted on PyTorch's meta device (``model.figures``). For a weights file, the scale it
was trained at (input size and focal length) and the class set it carries are printed too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ladderseg_ros.cli.args import parse_size, plain_help
from ladderseg_ros.errors import LadderSegError

if TYPE_CHECKING:
    from ladderseg_ros.model import LadderSeg


class InfoError(LadderSegError, ValueError):
    """An unknown model name."""


def _build(spec: str, num_classes: int) -> LadderSeg:
    """A network on the meta device: the variant ``spec``, or the one a weights file holds."""
    import torch

    from ladderseg_ros.model import VARIANTS, build_model

    if spec in VARIANTS:
        with torch.device("meta"):
            return build_model(spec, num_classes=num_classes)
    path = Path(spec)
    if path.suffix in (".safetensors", ".onnx") or path.exists():
        from ladderseg_ros.inference.segmenter import weights_metadata
        from ladderseg_ros.model import LadderSeg

        with torch.device("meta"):
            return LadderSeg(weights_metadata(path).model)
    raise InfoError(f"{spec!r} is neither a variant ({', '.join(VARIANTS)}) nor a weights file")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``info`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "info",
        help="parameters, GFLOPs and output stride of a model variant or weights file",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model", nargs="+", help="variant name(s), .safetensors or exported .onnx file(s)"
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        action="append",
        help="input size WxH, repeatable (default: 1024x448 and 2048x1024)",
    )
    parser.add_argument("--num-classes", type=int, default=19, help="classes (default 19)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prints a table of the models' figures (and trained scales); returns 0."""
    from ladderseg_ros.model.figures import model_figures

    sizes = args.size or [(1024, 448), (2048, 1024)]
    size_cols = [f"GFLOPs@{w}x{h}" for w, h in sizes]
    header = ["model", "params (M)", "backbone (M)", "stride", "disparity", *size_cols]
    rows = []
    scales = []
    for spec in args.model:
        fig = model_figures(_build(spec, args.num_classes), sizes)
        scale = _trained_scale(spec)
        if scale:
            scales += [scale, _classes(spec)]
        rows.append(
            [
                fig.name if spec == fig.name else f"{fig.name} ({spec})",
                f"{fig.parameters / 1e6:.2f}",
                f"{fig.backbone_parameters / 1e6:.2f}",
                f"1/{fig.output_stride}",
                "yes" if fig.uses_disparity else "no",
                *(f"{fig.gflops[s]:.1f}" for s in sizes),
            ]
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    for line in scales:
        print(line)
    return 0


def _classes(spec: str) -> str:
    """``SPEC: N classes (set): names; groups ...``: the class set a weights file carries."""
    from ladderseg_ros.inference.segmenter import weights_metadata

    classes = weights_metadata(spec).class_set()
    groups = ", ".join(g.name for g in classes.group_specs)
    return (
        f"{spec}: {classes.num_classes} classes ({classes.name}): {', '.join(classes.names)}"
        + (f"; groups {groups}" if groups else "")
        + f" (colours: ladderseg classes {spec})"
    )


def _trained_scale(spec: str) -> str | None:
    """``SPEC: trained at WxH, fx F px`` for a weights file; None for a variant name."""
    from ladderseg_ros.model import VARIANTS

    if spec in VARIANTS:
        return None
    from ladderseg_ros.inference.segmenter import weights_metadata

    meta = weights_metadata(spec)
    if meta.input_size is None:
        return f"{spec}: no trained scale recorded (runs at each image's own size)"
    if meta.focal_length is None:
        return f"{spec}: trained at {meta.describe_scale()} (focal length not recorded)"
    return f"{spec}: trained at {meta.describe_scale()}"
