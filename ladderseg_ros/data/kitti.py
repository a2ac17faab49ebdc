"""KITTI: semantics with stereo in the KITTI 2015 layout, and raw drives for inference.

KITTI 2015 (``data_semantics`` merged with ``data_scene_flow``) shares one naming scheme:
``training/image_2/000123_10.png`` (left), ``image_3`` (right), ``disp_occ_0`` (uint16,
d = p / 256, 0 invalid) and ``semantic`` (Cityscapes labelIds). Only ``training`` is
labelled, so ``train``/``val`` are a fixed split of it (every ``val_every``-th frame is val).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ladderseg_ros.classes import KITTI, LabelSet
from ladderseg_ros.data.images import ImageDecodeError, read_image
from ladderseg_ros.data.layouts import kitti_projections, read_kitti_raw_drive
from ladderseg_ros.data.sample import DatasetError, Sample, read_label_png, read_rgb, require_dir
from ladderseg_ros.stereo import baseline_from_projections

log = logging.getLogger(__name__)

#: Nominal KITTI rig baseline (m), used where ``calib_cam_to_cam/`` is not present.
KITTI_BASELINE = 0.54


def read_kitti_disparity(path: Path) -> np.ndarray:
    """Read a KITTI 2015 disparity PNG (uint16, value / 256, 0 = invalid) as float32."""
    try:
        raw = read_image(path, color=False)
    except ImageDecodeError as exc:
        raise DatasetError(f"{path}: missing or not a readable disparity PNG ({exc})") from None
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise DatasetError(f"{path}: expected a 16-bit single-channel disparity PNG")
    return raw.astype(np.float32) / 256.0


class KittiDataset:
    """KITTI 2015 semantics (+ stereo disparity) in its native layout.

    Args:
        root: Directory holding ``training/`` (and optionally ``testing/``).
        split: ``train``, ``val``, ``all`` (labelled ``training/``) or ``test``.
        with_labels: Require ``semantic/`` labels.
        with_disparity: Require ``disp_occ_0/``; the baseline is read from
            ``calib_cam_to_cam/<frame>.txt`` when present, else ``KITTI_BASELINE``.
        val_every: Every n-th labelled frame forms ``val``.

    Raises:
        DatasetError: The root, a required directory or a frame's file is missing.
    """

    label_set: LabelSet = KITTI

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        with_labels: bool = True,
        with_disparity: bool = False,
        val_every: int = 5,
    ) -> None:
        if split not in ("train", "val", "all", "test"):
            raise DatasetError(f"KITTI split {split!r}: expected train, val, all or test")
        self.root = Path(root)
        require_dir(self.root, "a KITTI 2015 root holding training/image_2/")
        sub = self.root / ("testing" if split == "test" else "training")
        images = require_dir(sub / "image_2", "left images named <frame>_10.png")
        self.with_labels = with_labels and split != "test"
        self.with_disparity = with_disparity
        self.semantic_dir = sub / "semantic"
        self.disp_dir = sub / "disp_occ_0"
        self.calib_dir = sub / "calib_cam_to_cam"
        if self.with_labels:
            require_dir(self.semantic_dir, "KITTI semantics labels (Cityscapes labelIds)")
        if with_disparity:
            require_dir(self.disp_dir, "KITTI 2015 disparity maps <frame>_10.png (uint16/256)")
        frames = sorted(images.glob("*_10.png"))
        if split in ("train", "val"):
            frames = [f for i, f in enumerate(frames) if (i % val_every == 0) == (split == "val")]
        if not frames:
            raise DatasetError(f"{images}: no <frame>_10.png images for split {split!r}")
        self.frames = frames
        log.info("kitti %s: %d frames from %s", split, len(frames), self.root)

    def __len__(self) -> int:
        return len(self.frames)

    def _baseline(self, frame: Path) -> float:
        calib = self.calib_dir / (frame.name.split("_")[0] + ".txt")
        if not calib.is_file():
            return KITTI_BASELINE
        return baseline_from_projections(*kitti_projections(calib))

    def __getitem__(self, index: int) -> Sample:
        frame = self.frames[index]
        image = read_rgb(frame)
        labels = disparity = baseline = None
        if self.with_labels:
            labels = self.label_set.to_train_ids(read_label_png(self.semantic_dir / frame.name))
        if self.with_disparity:
            disparity = read_kitti_disparity(self.disp_dir / frame.name)
            baseline = self._baseline(frame)
        for a, what in ((labels, "semantic"), (disparity, "disp_occ_0")):
            if a is not None and a.shape[:2] != image.shape[:2]:
                raise DatasetError(f"{frame}: its {what} map has a different size")
        return Sample(image, labels, disparity, baseline, name=frame.stem)


class KittiRawDataset:
    """A KITTI raw drive (``{date}_drive_{nnnn}_sync``) as unlabelled stereo pairs.

    Each sample carries ``image`` (left, image_02), ``right`` (image_03), the rig baseline
    from ``calib_cam_to_cam.txt`` and the frame's timestamp.
    """

    def __init__(self, drive_dir: str | Path) -> None:
        self.drive_dir = Path(drive_dir)
        require_dir(self.drive_dir, "a KITTI raw drive {date}_drive_{nnnn}_sync/")
        self.drive = read_kitti_raw_drive(self.drive_dir)
        self.baseline = baseline_from_projections(self.drive.p_left, self.drive.p_right)

    def __len__(self) -> int:
        return len(self.drive.left)

    def __getitem__(self, index: int) -> Sample:
        left = self.drive.left[index]
        return Sample(
            read_rgb(left),
            baseline=self.baseline,
            right=read_rgb(self.drive.right[index]),
            name=left.stem,
            timestamp=self.drive.timestamps[index],
        )
