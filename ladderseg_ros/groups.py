"""Class groups (drivable, obstacles, vulnerable road users...) and the label metadata document.

A groups file maps the classes of a label set to coarser groups that planners consume
(``config/groups_driving.yaml``). ``label_metadata`` is the document latched on
``~/label_info``: the classes and groups with ids, names and colours, with the field names of
``vision_msgs/LabelInfo`` (``class_map`` of ``class_id`` and ``class_name``, ``threshold``) so
that its users recognise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ladderseg_ros.classes import (
    IGNORE_INDEX,
    LabelError,
    LabelSet,
    entry_field,
    entry_name,
    parse_rgb,
    read_yaml,
)


@dataclass(frozen=True, eq=False)
class ClassGroups:
    """Groups of the classes of one label set.

    Attributes:
        name: Name of the grouping (``driving``).
        names: Group names indexed by group id.
        colors: (groups, 3) uint8 RGB per group.
        members: Class indices of each group.
        lut: 256-entry uint8 lookup class index -> group id; ``IGNORE_INDEX`` for classes in
            no group and for the ignore label.
    """

    name: str
    names: tuple[str, ...]
    colors: np.ndarray
    members: tuple[tuple[int, ...], ...]
    lut: np.ndarray

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) uint8 class indices -> (H, W) uint8 group ids."""
        return self.lut[labels]


def load_groups(path: str | Path, label_set: LabelSet) -> ClassGroups:
    """Read a groups YAML file (``name``; ``groups``: name, color, classes by name).

    Raises:
        LabelError: The file is missing or malformed, names a class that ``label_set`` does
            not have, or puts a class in two groups (the message names the file and value).
    """
    path = Path(path)
    doc = read_yaml(path, "groups")
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list) or not doc["groups"]:
        raise LabelError(f"groups file {path}: expected a mapping with a non-empty 'groups' list")
    if len(doc["groups"]) >= IGNORE_INDEX:
        raise LabelError(f"groups file {path}: at most {IGNORE_INDEX - 1} groups fit in mono8")
    index = {name: i for i, name in enumerate(label_set.names)}
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    names, colors, members = [], [], []
    for g, entry in enumerate(doc["groups"]):
        name = entry_name(entry, f"groups file {path}: group {g}")
        where = f"groups file {path}: group {name!r}"
        rgb = parse_rgb(entry_field(entry, "color", where), where)
        classes = entry_field(entry, "classes", where)
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise LabelError(
                f"{where} classes {classes!r} is not a list of class names "
                f"(write classes: [road, sidewalk])"
            )
        ids = []
        for cls in classes:
            if cls not in index:
                raise LabelError(
                    f"groups file {path}: unknown class {cls!r} in group {name!r} (label set "
                    f"{label_set.name!r} has {', '.join(label_set.names)})"
                )
            if lut[index[cls]] != IGNORE_INDEX:
                raise LabelError(
                    f"groups file {path}: class {cls!r} is in group {names[lut[index[cls]]]!r} "
                    f"and in {name!r}"
                )
            lut[index[cls]] = g
            ids.append(index[cls])
        names.append(name)
        colors.append(rgb)
        members.append(tuple(ids))
    return ClassGroups(
        name=str(doc.get("name", path.stem)),
        names=tuple(names),
        colors=np.array(colors, dtype=np.uint8).reshape(-1, 3),
        members=tuple(members),
        lut=lut,
    )


def label_metadata(
    label_set: LabelSet, groups: ClassGroups | None = None, threshold: float = 0.0
) -> dict[str, Any]:
    """The label metadata document (JSON-ready) of ``~/label_info``.

    Keys: ``label_set``, ``ignore_index``, ``classes`` ([{id, name, color}]), and after
    ``vision_msgs/LabelInfo``: ``class_map`` ([{class_id, class_name}]) and ``threshold``
    (the confidence below which nothing is suppressed: 0). With ``groups``: ``groups`` =
    {name, class_map, classes: [{id, name, color, class_ids}]}.
    """
    doc: dict[str, Any] = {
        "label_set": label_set.name,
        "ignore_index": IGNORE_INDEX,
        "classes": [
            {"id": i, "name": name, "color": [int(c) for c in label_set.colors[i]]}
            for i, name in enumerate(label_set.names)
        ],
        "class_map": [{"class_id": i, "class_name": n} for i, n in enumerate(label_set.names)],
        "threshold": float(threshold),
    }
    if groups is not None:
        doc["groups"] = {
            "name": groups.name,
            "class_map": [{"class_id": i, "class_name": n} for i, n in enumerate(groups.names)],
            "classes": [
                {
                    "id": i,
                    "name": name,
                    "color": [int(c) for c in groups.colors[i]],
                    "class_ids": list(groups.members[i]),
                }
                for i, name in enumerate(groups.names)
            ],
        }
    return doc
