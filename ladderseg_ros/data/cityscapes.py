"""Cityscapes in its native layout (fine labels; optional disparity PNGs and camera JSON).

Also reads the synthetic world's Cityscapes-layout export, which uses the same paths.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ladderseg_ros.classes import CITYSCAPES, LabelSet
from ladderseg_ros.data.layouts import (
    cityscapes_samples,
    read_cityscapes_camera,
    read_cityscapes_disparity,
)
from ladderseg_ros.data.sample import (
    DatasetError,
    Sample,
    read_label_png,
    read_rgb,
    require_dir,
)

log = logging.getLogger(__name__)


class CityscapesDataset:
    """``leftImg8bit/{split}/{city}/*`` with ``gtFine`` labelIds mapped to the 19 trainIds.

    Args:
        root: Dataset root holding ``leftImg8bit/``, ``gtFine/`` and optionally
            ``disparity/`` and ``camera/``.
        split: ``train``, ``val`` or ``test``.
        with_labels: Require ``gtFine/*_labelIds.png`` for every image.
        with_disparity: Require disparity PNGs and camera JSON (for scale selection).
        cities: Restrict to these cities.

    Raises:
        DatasetError: The root or split is missing, holds no images, or a required
            annotation is missing (the message names the path).
    """

    label_set: LabelSet = CITYSCAPES

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        with_labels: bool = True,
        with_disparity: bool = False,
        cities: list[str] | None = None,
    ) -> None:
        self.root = Path(root)
        require_dir(self.root, "a Cityscapes root holding leftImg8bit/ and gtFine/")
        require_dir(
            self.root / "leftImg8bit" / split,
            f"Cityscapes images as leftImg8bit/{split}/<city>/<city>_<seq>_<frame>_leftImg8bit.png",
        )
        self.split = split
        self.with_labels = with_labels
        self.with_disparity = with_disparity
        self.samples = cityscapes_samples(self.root, split, cities)
        if not self.samples:
            raise DatasetError(
                f"{self.root / 'leftImg8bit' / split}: no *_leftImg8bit.png images found"
            )
        for s in self.samples:
            if with_labels and s.label_ids is None:
                raise DatasetError(
                    f"{s.left}: no gtFine/{split}/.../*_gtFine_labelIds.png label file for it"
                )
            if with_disparity and (s.disparity is None or s.camera is None):
                raise DatasetError(
                    f"{s.left}: with_disparity needs disparity/{split}/.../*_disparity.png "
                    f"and camera/{split}/.../*_camera.json for it"
                )
        log.info("cityscapes %s: %d images from %s", split, len(self.samples), self.root)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        s = self.samples[index]
        image = read_rgb(s.left)
        labels = None
        if self.with_labels and s.label_ids is not None:
            labels = self.label_set.to_train_ids(read_label_png(s.label_ids))
            _check_shape(labels.shape, image.shape, s.label_ids)
        disparity = baseline = None
        if self.with_disparity:
            disparity = read_cityscapes_disparity(s.disparity)
            _check_shape(disparity.shape, image.shape, s.disparity)
            baseline = float(read_cityscapes_camera(s.camera).baseline)
        name = s.left.name.removesuffix("_leftImg8bit.png")
        return Sample(image, labels, disparity, baseline, name=name)


def _check_shape(shape: tuple[int, ...], image_shape: tuple[int, ...], path: Path) -> None:
    if tuple(shape[:2]) != tuple(image_shape[:2]):
        raise DatasetError(
            f"{path}: size {shape[1]}x{shape[0]} differs from its image's "
            f"{image_shape[1]}x{image_shape[0]}"
        )
