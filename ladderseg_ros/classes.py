"""Label sets (Cityscapes 19 trainIds, KITTI semantics, Pascal VOC 21), palettes, colorize.

The Cityscapes table is the official one (``cityscapesscripts.helpers.labels``), written out
here so that the core does not need that package at run time; a test checks it entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ladderseg_ros.errors import LadderSegError

IGNORE_INDEX = 255


class LabelError(LadderSegError, ValueError):
    """A label set, palette file or label map is malformed."""


class CityscapesLabel(NamedTuple):
    """One row of the official Cityscapes label table."""

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


# fmt: off
CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = (
    CityscapesLabel("unlabeled", 0, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("ego vehicle", 1, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("rectification border", 2, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("out of roi", 3, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("static", 4, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("dynamic", 5, 255, "void", 0, False, True, (111, 74, 0)),
    CityscapesLabel("ground", 6, 255, "void", 0, False, True, (81, 0, 81)),
    CityscapesLabel("road", 7, 0, "flat", 1, False, False, (128, 64, 128)),
    CityscapesLabel("sidewalk", 8, 1, "flat", 1, False, False, (244, 35, 232)),
    CityscapesLabel("parking", 9, 255, "flat", 1, False, True, (250, 170, 160)),
    CityscapesLabel("rail track", 10, 255, "flat", 1, False, True, (230, 150, 140)),
    CityscapesLabel("building", 11, 2, "construction", 2, False, False, (70, 70, 70)),
    CityscapesLabel("wall", 12, 3, "construction", 2, False, False, (102, 102, 156)),
    CityscapesLabel("fence", 13, 4, "construction", 2, False, False, (190, 153, 153)),
    CityscapesLabel("guard rail", 14, 255, "construction", 2, False, True, (180, 165, 180)),
    CityscapesLabel("bridge", 15, 255, "construction", 2, False, True, (150, 100, 100)),
    CityscapesLabel("tunnel", 16, 255, "construction", 2, False, True, (150, 120, 90)),
    CityscapesLabel("pole", 17, 5, "object", 3, False, False, (153, 153, 153)),
    CityscapesLabel("polegroup", 18, 255, "object", 3, False, True, (153, 153, 153)),
    CityscapesLabel("traffic light", 19, 6, "object", 3, False, False, (250, 170, 30)),
    CityscapesLabel("traffic sign", 20, 7, "object", 3, False, False, (220, 220, 0)),
    CityscapesLabel("vegetation", 21, 8, "nature", 4, False, False, (107, 142, 35)),
    CityscapesLabel("terrain", 22, 9, "nature", 4, False, False, (152, 251, 152)),
    CityscapesLabel("sky", 23, 10, "sky", 5, False, False, (70, 130, 180)),
    CityscapesLabel("person", 24, 11, "human", 6, True, False, (220, 20, 60)),
    CityscapesLabel("rider", 25, 12, "human", 6, True, False, (255, 0, 0)),
    CityscapesLabel("car", 26, 13, "vehicle", 7, True, False, (0, 0, 142)),
    CityscapesLabel("truck", 27, 14, "vehicle", 7, True, False, (0, 0, 70)),
    CityscapesLabel("bus", 28, 15, "vehicle", 7, True, False, (0, 60, 100)),
    CityscapesLabel("caravan", 29, 255, "vehicle", 7, True, True, (0, 0, 90)),
    CityscapesLabel("trailer", 30, 255, "vehicle", 7, True, True, (0, 0, 110)),
    CityscapesLabel("train", 31, 16, "vehicle", 7, True, False, (0, 80, 100)),
    CityscapesLabel("motorcycle", 32, 17, "vehicle", 7, True, False, (0, 0, 230)),
    CityscapesLabel("bicycle", 33, 18, "vehicle", 7, True, False, (119, 11, 32)),
    CityscapesLabel("license plate", -1, -1, "vehicle", 7, False, True, (0, 0, 142)),
)

VOC_NAMES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
# fmt: on


@dataclass(frozen=True, eq=False)
class LabelSet:
    """Class names and colours of a training label space, plus how raw ids map into it.

    Attributes:
        name: Short name (``cityscapes``, ``kitti``, ``voc``).
        names: Class names indexed by training id.
        colors: ``(num_classes, 3)`` uint8 RGB palette indexed by training id.
        raw_to_train: 256-entry uint8 lookup from the dataset's stored ids to training ids
            (``IGNORE_INDEX`` for everything not evaluated), or ``None`` when stored ids are
            already training ids (VOC).
        categories: Category name per class (Cityscapes groups), or ``None``.

    Raises:
        LabelError: ``colors`` is not one RGB triple per name, or 255 or more classes (255 is
            ``IGNORE_INDEX`` in uint8 label maps).
    """

    name: str
    names: tuple[str, ...]
    colors: np.ndarray
    raw_to_train: np.ndarray | None = None
    categories: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        colors = np.asarray(self.colors)
        if colors.shape != (len(self.names), 3):
            raise LabelError(
                f"label set {self.name!r}: {len(self.names)} names but colors of shape "
                f"{colors.shape}"
            )
        if len(self.names) >= IGNORE_INDEX:
            raise LabelError(f"label set {self.name!r}: at most 254 classes fit in uint8 labels")
        object.__setattr__(self, "colors", colors.astype(np.uint8))

    @property
    def num_classes(self) -> int:
        """Number of training ids (classes), 0..num_classes-1."""
        return len(self.names)

    def to_train_ids(self, raw: np.ndarray) -> np.ndarray:
        """Map stored label ids (e.g. Cityscapes labelIds) to training ids.

        Returns:
            uint8 array of ``raw``'s shape: trainIds, ``IGNORE_INDEX`` where not evaluated.

        Raises:
            LabelError: ids outside 0..255 in a non-uint8 ``raw``.
        """
        if self.raw_to_train is None:
            return np.asarray(raw, dtype=np.uint8)
        raw = np.asarray(raw)
        if raw.dtype != np.uint8:
            if raw.size and (raw.min() < 0 or raw.max() > 255):
                raise LabelError(f"label ids outside 0..255 for label set {self.name!r}")
            raw = raw.astype(np.uint8)
        return self.raw_to_train[raw]


def _cityscapes_lut() -> np.ndarray:
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label in CITYSCAPES_LABELS:
        if label.id >= 0 and 0 <= label.train_id < IGNORE_INDEX:
            lut[label.id] = label.train_id
    return lut


def _cityscapes_label_set(name: str) -> LabelSet:
    train = sorted(
        (lab for lab in CITYSCAPES_LABELS if 0 <= lab.train_id < IGNORE_INDEX),
        key=lambda lab: lab.train_id,
    )
    return LabelSet(
        name=name,
        names=tuple(lab.name for lab in train),
        colors=np.array([lab.color for lab in train], dtype=np.uint8),
        raw_to_train=_cityscapes_lut(),
        categories=tuple(lab.category for lab in train),
    )


def bit_palette(n: int = 256) -> np.ndarray:
    """Pascal VOC's colour map: (n, 3) uint8 RGB, the class index's bits interleaved.

    Distinct colours for up to 256 classes (index 0 is black); VOC's own and the fallback
    palette of any custom class set.
    """
    colors = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colors[i] = (r, g, b)
    return colors


CITYSCAPES = _cityscapes_label_set("cityscapes")
# KITTI semantics annotates in Cityscapes labelIds and is evaluated on the same 19 classes.
KITTI = _cityscapes_label_set("kitti")
VOC = LabelSet(name="voc", names=VOC_NAMES, colors=bit_palette(len(VOC_NAMES)))

LABEL_SETS: dict[str, LabelSet] = {ls.name: ls for ls in (CITYSCAPES, KITTI, VOC)}

# trainId -> labelId, for writing Cityscapes-format ``*_labelIds.png`` from trainIds.
TRAIN_TO_LABEL_ID = np.zeros(256, dtype=np.uint8)
for _lab in CITYSCAPES_LABELS:
    if 0 <= _lab.train_id < IGNORE_INDEX:
        TRAIN_TO_LABEL_ID[_lab.train_id] = _lab.id
del _lab


def get_label_set(name: str) -> LabelSet:
    """Return a built-in label set by name (``cityscapes``, ``kitti``, ``voc``).

    Raises:
        LabelError: an unknown name (the message lists the known ones).
    """
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise LabelError(
            f"unknown label set {name!r}; known: {', '.join(sorted(LABEL_SETS))}"
        ) from None


def read_yaml(path: Path, what: str) -> object:
    """The document of the YAML file ``path`` (a ``what`` file: palette, groups).

    Raises:
        LabelError: The file cannot be read or is not YAML (the message names it).
    """
    import yaml

    from ladderseg_ros.fileio import InputFileError, one_line, read_text

    try:
        return yaml.safe_load(read_text(path, f"{what} file"))
    except InputFileError as exc:
        raise LabelError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise LabelError(f"{what} file {path} is not valid YAML: {one_line(exc)}") from None


def entry_field(entry: object, key: str, where: str) -> object:
    """``entry[key]`` of one list item of a YAML file (a palette class, a group).

    Raises:
        LabelError: ``entry`` is not a mapping, or has no ``key`` ("{where} has no 'key'").
    """
    if not isinstance(entry, dict):
        raise LabelError(f"{where} is {entry!r}, expected a mapping (name, color, ...)")
    if key not in entry:
        raise LabelError(f"{where} has no {key!r}")
    return entry[key]


def entry_name(entry: object, where: str) -> str:
    """The ``name`` of one list item of a YAML file: a string or a number, as text.

    Raises:
        LabelError: no name, or one that is a list, a mapping or empty.
    """
    name = entry_field(entry, "name", where)
    if isinstance(name, bool) or not isinstance(name, str | int | float) or str(name) == "":
        raise LabelError(f'{where} name {name!r} is not a name (write name: "...")')
    return str(name)


def parse_rgb(value: object, where: str) -> tuple[int, int, int]:
    """(R, G, B) of a YAML colour: a list of three whole numbers 0..255.

    Args:
        value: what the file holds under ``color``.
        where: the file and item, for the message (e.g. "groups file g.yaml: group 'a'").

    Raises:
        LabelError: one line saying what is wrong: not a list, not 3 values, a value that
            is not a whole number, or one outside 0..255 (each such value named).
    """
    if not isinstance(value, list | tuple):
        raise LabelError(f"{where} color {value!r} is not a list [R, G, B] of 0..255")
    if len(value) != 3:
        raise LabelError(f"{where} color {value!r} has {len(value)} values, expected 3 [R, G, B]")
    not_whole = [v for v in value if not _is_whole_number(v)]
    if not_whole:
        listed = " and ".join(repr(v) for v in not_whole)
        verb = "is not a whole number" if len(not_whole) == 1 else "are not whole numbers"
        raise LabelError(f"{where} color {value!r}: {listed} {verb} 0..255")
    outside = [v for v in value if not 0 <= v <= 255]
    if outside:
        listed = " and ".join(str(v) for v in outside)
        verb = "is" if len(outside) == 1 else "are"
        raise LabelError(f"{where} color {value!r}: {listed} {verb} outside 0..255")
    r, g, b = (int(v) for v in value)
    return r, g, b


def _is_whole_number(value: object) -> bool:
    if isinstance(value, bool):  # YAML's yes/no/on/off
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def load_palette(path: str | Path) -> LabelSet:
    """Load a label set from a YAML palette file (``name`` and ``classes``: name + rgb).

    Raises:
        LabelError: The file is missing or malformed (the message names the file).
    """
    path = Path(path)
    doc = read_yaml(path, "palette")
    if not isinstance(doc, dict) or not isinstance(doc.get("classes"), list):
        raise LabelError(f"palette file {path}: expected a mapping with a 'classes' list")
    names, colors = [], []
    for i, entry in enumerate(doc["classes"]):
        name = entry_name(entry, f"palette file {path}: class {i}")
        rgb = parse_rgb(
            entry_field(entry, "color", f"palette file {path}: class {i} ({name!r})"),
            f"palette file {path}: class {i} ({name!r})",
        )
        names.append(name)
        colors.append(rgb)
    base = LABEL_SETS.get(str(doc.get("base", "")))
    return LabelSet(
        name=str(doc.get("name", path.stem)),
        names=tuple(names),
        colors=np.array(colors, dtype=np.uint8).reshape(-1, 3),
        raw_to_train=None if base is None else base.raw_to_train,
        categories=None if base is None else base.categories,
    )


def palette_lut(label_set: LabelSet) -> np.ndarray:
    """A 256x3 colour lookup: class colours, black for ignore and anything unknown."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: label_set.num_classes] = label_set.colors
    return lut


def colorize(labels: np.ndarray, label_set: LabelSet = CITYSCAPES) -> np.ndarray:
    """Colour a label map (H, W) of training ids into an RGB image (H, W, 3) uint8.

    Ignored (255) and unknown ids are black.

    Raises:
        LabelError: ``labels`` is not 2-D.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise LabelError(f"colorize expects a 2-D label map, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        labels = np.clip(labels, 0, 255).astype(np.uint8)
    return palette_lut(label_set)[labels]
