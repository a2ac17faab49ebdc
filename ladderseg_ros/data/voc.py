"""Pascal VOC 2012 segmentation in its native layout, with the augmented (SBD) train list.

``VOC2012/JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (palette PNGs whose indices
are the 21 class ids, 255 on object borders) and ``ImageSets/Segmentation/<split>.txt``.
The augmented set follows the usual convention: ``ImageSets/Segmentation/train_aug.txt``
with labels in ``SegmentationClassAug/`` (grayscale ids); it is used for ``train`` when
present unless ``augmented=False``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ladderseg_ros.classes import IGNORE_INDEX, VOC, LabelSet
from ladderseg_ros.data.sample import DatasetError, Sample, read_label_png, read_rgb, require_dir

log = logging.getLogger(__name__)


class VocDataset:
    """VOC 2012 segmentation.

    Args:
        root: ``VOCdevkit/VOC2012`` (or ``VOCdevkit`` holding it).
        split: A list name under ``ImageSets/Segmentation`` (``train``, ``val``, ``trainval``).
        augmented: Use ``train_aug.txt`` + ``SegmentationClassAug/`` for ``train`` if present.

    Raises:
        DatasetError: The root, the split list or a listed file is missing.
    """

    label_set: LabelSet = VOC

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        augmented: bool = True,
        with_labels: bool = True,
    ) -> None:
        root = Path(root)
        if (root / "VOC2012").is_dir():
            root = root / "VOC2012"
        self.root = root
        require_dir(root, "a Pascal VOC 2012 root (VOCdevkit/VOC2012) holding JPEGImages/")
        self.image_dir = require_dir(root / "JPEGImages", "the <id>.jpg images")
        lists = require_dir(root / "ImageSets" / "Segmentation", "the <split>.txt image lists")
        self.label_dir = root / "SegmentationClass"
        list_file = lists / f"{split}.txt"
        aug_list = lists / "train_aug.txt"
        if split == "train" and augmented and aug_list.is_file():
            list_file = aug_list
            self.label_dir = require_dir(
                root / "SegmentationClassAug", "the augmented (SBD) labels for train_aug.txt"
            )
        if not list_file.is_file():
            raise DatasetError(f"{list_file}: split list not found")
        self.ids = [ln.split()[0] for ln in list_file.read_text().splitlines() if ln.strip()]
        if not self.ids:
            raise DatasetError(f"{list_file}: the split list is empty")
        self.with_labels = with_labels
        if with_labels:
            require_dir(self.label_dir, "the <id>.png class-index label images")
        log.info("voc %s: %d images (%s)", split, len(self.ids), list_file.name)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        image_id = self.ids[index]
        image = read_rgb(self.image_dir / f"{image_id}.jpg")
        labels = None
        if self.with_labels:
            path = self.label_dir / f"{image_id}.png"
            labels = read_label_png(path)
            if labels.shape != image.shape[:2]:
                raise DatasetError(f"{path}: size differs from its image")
            bad = (labels >= self.label_set.num_classes) & (labels != IGNORE_INDEX)
            if bad.any():
                raise DatasetError(f"{path}: class ids outside 0..20 and 255")
        return Sample(image, labels, name=image_id)
