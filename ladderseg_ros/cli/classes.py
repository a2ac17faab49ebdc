"""``ladderseg classes NAME|FILE``: print a class set, or write it as a class set YAML file.

NAME|FILE is a built-in set (``cityscapes``, ``kitti``, ``voc``), a class set YAML file, a
CVAT ``labelmap.txt``, a Mapillary Vistas ``config.json``, or weights (``.safetensors`` or
``.onnx``: the class set they carry). ``--write OUT.yaml`` writes it as a class set file to
edit (merge classes through ``ids``/``colors``, map head rows with ``source_names``); an
existing OUT is never overwritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ladderseg_ros.cli.args import plain_help

if TYPE_CHECKING:
    from ladderseg_ros.classes import LabelSet


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``classes`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "classes",
        help="print a class set (built in, YAML, CVAT labelmap.txt, Vistas config.json, weights)",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", metavar="NAME|FILE", help="built-in name or class set file")
    parser.add_argument("--write", type=Path, metavar="OUT.yaml", help="write a class set file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prints the class set (and writes it with ``--write``); returns 0.

    Raises:
        LabelError: an unknown name or an unreadable class set file.
        WeightsError, ExportError: unreadable weights.
        OutputExistsError: ``--write`` names an existing file.
    """
    from ladderseg_ros.classes import write_class_set

    label_set = class_set_of(args.spec)
    print(describe(label_set))
    if args.write is not None:
        write_class_set(args.write, label_set)
        print(f"wrote {args.write}")
    return 0


def class_set_of(spec: str) -> LabelSet:
    """The class set ``spec`` names: built in, a class set file, or the one weights carry."""
    from ladderseg_ros.classes import load_class_set

    if Path(spec).suffix.lower() in (".safetensors", ".onnx"):
        from ladderseg_ros.inference.segmenter import weights_metadata

        return weights_metadata(spec).class_set()
    return load_class_set(spec)


def describe(label_set: LabelSet) -> str:
    """A table of the classes: index, name, colour, category, stored values; then groups."""
    from ladderseg_ros.classes import IGNORE_INDEX

    table = label_set.color_table()
    lut, known = label_set.raw_to_train, label_set.known_raw
    rows = [("id", "name", "colour", "category", "stored ids", "source")]
    for i, name in enumerate(label_set.names):
        ids = "" if lut is None else _ranges([v for v in range(256) if lut[v] == i])
        if lut is None:
            ids = str(i)
        extra = [c for c, j in table.items() if j == i and c != tuple(label_set.colors[i])]
        colour = _hex(label_set.colors[i])
        if extra:
            colour += " (+" + ", ".join(map(_hex, extra)) + ")"
        category = label_set.categories[i] if label_set.categories else ""
        source = " + ".join(label_set.source_names.get(name, ()))
        rows.append((str(i), name, colour, category, ids, source))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = [f"class set {label_set.name!r}: {label_set.num_classes} classes"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    ignored = [c for c, j in table.items() if j == IGNORE_INDEX]
    if known is not None and lut is not None:
        ignored_ids = [v for v in range(IGNORE_INDEX) if known[v] and lut[v] == IGNORE_INDEX]
        if ignored_ids:
            lines.append(f"ignored ids: {_ranges(ignored_ids)}")
    if ignored:
        lines.append("ignored colours: " + ", ".join(map(_hex, ignored)))
    lines.append(f"ignore index in label maps: {IGNORE_INDEX}")
    for g in label_set.group_specs:
        lines.append(f"group {g.name} {_hex(g.color)}: {', '.join(g.classes)}")
    return "\n".join(lines)


def _hex(rgb: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


def _ranges(values: list[int]) -> str:
    """``0-3,7`` for [0, 1, 2, 3, 7]."""
    parts: list[str] = []
    start = prev = None
    for v in [*values, None]:
        if v is not None and prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    return ",".join(parts)
