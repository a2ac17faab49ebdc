"""A team's own labelled frames in a folder: CVAT, Mapillary Vistas or plain layout.

Layouts (``FORMATS``; ``detect_format`` tells them apart):

- ``cvat``: CVAT's "Segmentation mask 1.1" export: ``JPEGImages/<stem>.<ext>``,
  ``SegmentationClass/<stem>.png`` (colour masks), ``ImageSets/Segmentation/<split>.txt``
  (one stem a line) and ``labelmap.txt`` (the default class set).
- ``vistas``: Mapillary Vistas: ``<split>/images/<stem>.jpg`` and ``<split>/labels/<stem>.png``
  (v1.2), or ``<split>/v1.2/labels`` / ``<split>/v2.0/labels`` (v2.0 keeps both); the class
  set defaults to ``config.json`` (``config_v2.0.json`` / ``config_v1.2.json``). ``train`` and
  ``val`` also find Vistas' ``training`` and ``validation``.
- ``plain``: ``images/<stem>.<ext>`` and ``labels/<stem>.png`` (ids, palette indices or colour
  masks) with split lists ``splits/<split>.txt`` or ``<split>.txt``; the class set is named
  by ``data.classes``.

Stereo (for scale-selection models): right images beside the left ones in a folder of the
same name with ``_right`` appended (``JPEGImages_right/``, ``images_right/``), and a
Cityscapes-style camera JSON, one for all frames (``camera.json`` at the root) or one per
frame (``camera/<stem>.json``). Disparity is SGBM's on the pair, as in the synthetic data.

Bad data raises ``DatasetError`` with one line naming the file: a missing partner (label,
right image, camera) or an empty split when the dataset opens; a label value or colour not
in the class set (with its pixel count) or an image and label of different sizes when a
frame is read.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ladderseg_ros.classes import LabelError, LabelSet, load_class_set
from ladderseg_ros.data.layouts import LayoutError, read_cityscapes_camera
from ladderseg_ros.data.sample import DatasetError, Sample, read_rgb, require_dir
from ladderseg_ros.data.synthetic_dataset import NEAREST_DEPTH
from ladderseg_ros.stereo import SgbmConfig, compute_disparity

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("auto", "cvat", "vistas", "plain")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
_VISTAS_SPLITS = {"train": "training", "val": "validation", "test": "testing"}
_VISTAS_VERSIONS = ("v2.0", "v1.2")


@dataclass(frozen=True)
class FolderFrame:
    """Paths of one frame; ``right`` and ``camera`` only for stereo."""

    name: str
    image: Path
    label: Path
    right: Path | None = None
    camera: Path | None = None


def detect_format(root: Path) -> str:
    """``cvat``, ``vistas`` or ``plain``, from the folders under ``root``.

    Raises:
        DatasetError: none of the three layouts (the message says what each needs).
    """
    if (root / "SegmentationClass").is_dir() and (root / "JPEGImages").is_dir():
        return "cvat"
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "plain"
    if any((d / "images").is_dir() for d in root.iterdir() if d.is_dir()):
        return "vistas"
    raise DatasetError(
        f"{root}: not a CVAT export (JPEGImages/ + SegmentationClass/), a Vistas folder "
        "(<split>/images/ + <split>/labels/) or images/ + labels/"
    )


def default_classes(root: Path, fmt: str) -> Path:
    """The class set file a layout ships (CVAT ``labelmap.txt``, Vistas ``config*.json``).

    Raises:
        DatasetError: none there (``plain`` ships none: name one with ``data.classes``).
    """
    names = {
        "cvat": ["labelmap.txt"],
        "vistas": ["config.json", "config_v2.0.json", "config_v1.2.json"],
    }.get(fmt, [])
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DatasetError(
        f"{root}: no class set ({', '.join(names) or 'a plain folder ships none'}): set "
        "data.classes to a class set file or a built-in name"
    )


def _image_for(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _split_list(path: Path) -> list[str]:
    from ladderseg_ros.fileio import InputFileError, read_text

    try:
        text = read_text(path, "split list")
    except InputFileError as exc:
        raise DatasetError(str(exc)) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _vistas_dirs(root: Path, split: str, classes: str) -> tuple[Path, Path]:
    """(images folder, labels folder) of a Vistas split; the version from ``classes``."""
    base = root / split
    if not base.is_dir() and split in _VISTAS_SPLITS:
        base = root / _VISTAS_SPLITS[split]
    images = require_dir(base / "images", f"the {split!r} images of a Vistas folder")
    if (base / "labels").is_dir():
        return images, base / "labels"
    present = [v for v in _VISTAS_VERSIONS if (base / v / "labels").is_dir()]
    wanted = [v for v in present if v in Path(classes).name]
    if wanted or len(present) == 1:
        return images, base / (wanted or present)[0] / "labels"
    if not present:
        raise DatasetError(f"{base}: no labels/ (nor v1.2/labels, v2.0/labels)")
    raise DatasetError(
        f"{base}: labels of {', '.join(present)}: set data.classes to config_v2.0.json or "
        "config_v1.2.json to choose"
    )


def list_frames(root: Path, fmt: str, split: str, classes: str = "") -> list[FolderFrame]:
    """The frames of ``split``, each with its label (and stereo partners where present).

    Raises:
        DatasetError: an unknown format, a missing split list or folder, an empty split, or
            a frame without its image or label (the message names the file).
    """
    if fmt == "cvat":
        stems = _split_list(root / "ImageSets" / "Segmentation" / f"{split}.txt")
        image_dir, label_dir = root / "JPEGImages", root / "SegmentationClass"
        where = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    elif fmt == "plain":
        lists = [root / "splits" / f"{split}.txt", root / f"{split}.txt"]
        where = next((p for p in lists if p.is_file()), lists[0])
        stems = _split_list(where)
        image_dir, label_dir = root / "images", root / "labels"
    elif fmt == "vistas":
        image_dir, label_dir = _vistas_dirs(root, split, classes)
        stems = sorted(p.stem for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        where = image_dir
    else:
        raise DatasetError(f"data.folder_format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not stems:
        raise DatasetError(f"{where}: split {split!r} is empty")
    right_dir = image_dir.with_name(image_dir.name + "_right")
    camera_one = root / "camera.json"
    frames = []
    for stem in stems:
        image = _image_for(image_dir, stem)
        if image is None:
            raise DatasetError(
                f"{image_dir / stem}: no image (.jpg/.png) for listed frame {stem!r}"
            )
        label = label_dir / f"{stem}.png"
        if not label.is_file():
            raise DatasetError(f"{image}: no label {label}")
        right = _image_for(right_dir, stem) if right_dir.is_dir() else None
        camera = root / "camera" / f"{stem}.json"
        frames.append(
            FolderFrame(
                stem,
                image,
                label,
                right,
                camera if camera.is_file() else (camera_one if camera_one.is_file() else None),
            )
        )
    return frames


def read_stored_labels(path: Path, colors: bool) -> np.ndarray:
    """A label PNG as stored: (H, W) ids, or (H, W, 3) RGB for colour masks.

    Args:
        path: The PNG.
        colors: The layout stores colour masks: a palette PNG gives its colours (CVAT),
            not its indices (Vistas, VOC).

    Raises:
        DatasetError: missing or unreadable, or of a mode that holds no labels.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode in ("RGB", "RGBA") or (img.mode == "P" and colors):
                return np.asarray(img.convert("RGB"))
            if img.mode in ("L", "P", "I", "I;16"):
                return np.asarray(img)
            raise DatasetError(f"{path}: label image of mode {img.mode}: expected ids or RGB")
    except OSError as exc:
        raise DatasetError(f"{path}: missing or not a readable label image ({exc})") from None


class FolderDataset:
    """A folder of a team's labelled frames (``detect_format`` layouts), in its class set.

    Args:
        root: The folder.
        split: Split name (a split list, or a Vistas split folder).
        classes: Class set: a built-in name or a file (``classes.load_class_set``); empty =
            the layout's own (``default_classes``).
        fmt: ``auto`` (``detect_format``), ``cvat``, ``vistas`` or ``plain``.
        with_disparity: Load right images and the camera, and match them with SGBM (for
            scale-selection models).

    Raises:
        DatasetError: see ``list_frames``; a class set that cannot be read; with disparity,
            a frame without its right image or camera.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        classes: str = "",
        fmt: str = "auto",
        with_disparity: bool = False,
    ) -> None:
        self.root = require_dir(Path(root), "a CVAT export, a Vistas folder or images/+labels/")
        if fmt not in FORMATS:
            raise DatasetError(f"data.folder_format {fmt!r}: expected one of {', '.join(FORMATS)}")
        self.format = detect_format(self.root) if fmt == "auto" else fmt
        spec = classes or str(default_classes(self.root, self.format))
        try:
            self.label_set: LabelSet = load_class_set(spec)
        except LabelError as exc:
            raise DatasetError(f"data.classes: {exc}") from None
        self.frames = list_frames(self.root, self.format, split, spec)
        self.with_disparity = with_disparity
        if with_disparity:
            for f in self.frames:
                if f.right is None or f.camera is None:
                    missing = "right image" if f.right is None else "camera JSON"
                    raise DatasetError(
                        f"{f.image}: no {missing} for it (a scale-selection model needs "
                        f"{f.image.parent.name}_right/{f.name}.* and camera.json or "
                        f"camera/{f.name}.json)"
                    )
        log.info(
            "folder %s (%s) %s: %d frames, %d classes (%s)",
            self.root,
            self.format,
            split,
            len(self.frames),
            self.label_set.num_classes,
            self.label_set.name,
        )

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Sample:
        f = self.frames[index]
        image = read_rgb(f.image)
        stored = read_stored_labels(f.label, colors=self.format == "cvat")
        if stored.shape[:2] != image.shape[:2]:
            raise DatasetError(
                f"{f.label}: size {stored.shape[1]}x{stored.shape[0]} differs from its image's "
                f"{image.shape[1]}x{image.shape[0]} ({f.image.name})"
            )
        try:
            labels = self.label_set.decode(stored, f.label)
        except LabelError as exc:
            raise DatasetError(str(exc)) from None
        disparity = baseline = None
        if self.with_disparity:
            disparity, baseline = self._stereo(f, image)
        return Sample(image, labels, disparity, baseline, name=f.name)

    def _stereo(self, f: FolderFrame, image: np.ndarray) -> tuple[np.ndarray, float]:
        """SGBM disparity of the frame's pair, range from its camera, and the baseline."""
        assert f.right is not None
        assert f.camera is not None
        right = read_rgb(f.right)
        if right.shape != image.shape:
            raise DatasetError(
                f"{f.right}: size {right.shape[1]}x{right.shape[0]} differs from the left "
                f"image's {image.shape[1]}x{image.shape[0]}"
            )
        try:
            camera = read_cityscapes_camera(f.camera)
        except LayoutError as exc:
            raise DatasetError(str(exc)) from None
        if not (0 < camera.fx < 1e5 and 0 < camera.baseline < 10):
            raise DatasetError(
                f"{f.camera}: fx {camera.fx} px and baseline {camera.baseline} m out of range "
                "(0..1e5 px, 0..10 m)"
            )
        return compute_disparity(
            image, right, folder_sgbm(camera.fx, camera.baseline, image)
        ), float(camera.baseline)


def folder_sgbm(fx: float, baseline: float, image: np.ndarray) -> SgbmConfig:
    """SGBM for a camera: range up to the disparity at ``NEAREST_DEPTH``, at most the width."""
    largest = fx * baseline / NEAREST_DEPTH
    widest = max(16, image.shape[1] // 16 * 16)
    return SgbmConfig(num_disparities=min(widest, max(16, 16 * math.ceil(largest / 16))))
