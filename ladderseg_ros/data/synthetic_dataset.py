"""The synthetic stereo world as a dataset, rendered on the fly from disjoint seed ranges.

Frames are a pure function of their seed, so train/val/test never overlap and every
process (DDP rank, data-loader worker, resumed run) sees the same data. Its Cityscapes-layout
export is read by ``CityscapesDataset``.

Disparity is the renderer's exact one, or SGBM's on the rendered pair: the node matches the
camera pair with SGBM, so a scale-selection model trained on SGBM disparity learns the holes,
the invalid left band and the noise it will be given.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ladderseg_ros.classes import CITYSCAPES, LabelSet
from ladderseg_ros.data.sample import DatasetError, Sample
from ladderseg_ros.stereo import SgbmConfig, compute_disparity

if TYPE_CHECKING:
    from ladderseg_ros.data.synthetic import StereoRig

log = logging.getLogger(__name__)

DISPARITY_SOURCES: tuple[str, ...] = ("exact", "sgbm")
#: Metres: the nearest surface the synthetic streets put in view (parked cars beside the
#: ego car, at the image edge); over 200 train and val seeds the nearest was 1.77 m.
NEAREST_DEPTH = 1.75


def sgbm_num_disparities(rig: StereoRig) -> int:
    """SGBM search range for ``rig``: the smallest multiple of 16 covering the largest
    disparity of the synthetic world at the rig's width (80 at 416 px wide, 32 at 96)."""
    largest = rig.focal * rig.baseline / NEAREST_DEPTH
    return max(16, 16 * math.ceil(largest / 16))


@dataclass(frozen=True)
class SyntheticConfig:
    """Which synthetic frames to render.

    Attributes:
        split: ``train``, ``val`` or ``test`` (``SPLIT_SEEDS``).
        num_frames: First n seeds of the split (None = the whole range).
        width, height: Render size; the KITTI rig is resized to it (focal scales, baseline
            stays).
        cache: Keep rendered frames in memory (rendering costs more than a training step's
            data loading; a demo set of a few hundred small frames fits easily).
        disparity: ``exact`` (the renderer's) or ``sgbm`` (``stereo.compute_disparity`` on
            the rendered pair, range ``sgbm_num_disparities``, 0 = invalid): what the node
            computes, for training scale selection on the input it will see.
    """

    split: str = "train"
    num_frames: int | None = None
    width: int = 320
    height: int = 96
    cache: bool = True
    disparity: str = "exact"

    def __post_init__(self) -> None:
        if self.disparity not in DISPARITY_SOURCES:
            raise DatasetError(
                f"synthetic disparity {self.disparity!r}: expected one of "
                f"{', '.join(DISPARITY_SOURCES)}"
            )


class SyntheticDataset:
    """Frames of the procedural road world with exact trainIds and disparity."""

    label_set: LabelSet = CITYSCAPES

    def __init__(self, config: SyntheticConfig) -> None:
        from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS

        if config.split not in SPLIT_SEEDS:
            raise DatasetError(
                f"synthetic split {config.split!r}: expected one of {', '.join(SPLIT_SEEDS)}"
            )
        seeds = SPLIT_SEEDS[config.split]
        if config.num_frames is not None:
            if not 0 < config.num_frames <= len(seeds):
                raise DatasetError(
                    f"synthetic {config.split}: num_frames {config.num_frames} outside "
                    f"1..{len(seeds)}"
                )
            seeds = seeds[: config.num_frames]
        self.config = config
        self.seeds = seeds
        self.rig = KITTI_RIG.resized(config.width, config.height)
        self.sgbm = SgbmConfig(num_disparities=sgbm_num_disparities(self.rig))
        self._cache: dict[int, Sample] = {}

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> Sample:
        sample = self._cache.get(index)
        if sample is None:
            from ladderseg_ros.data.synthetic import render_frame

            frame = render_frame(self.seeds[index], self.rig)
            disparity = frame.disparity
            if self.config.disparity == "sgbm":
                disparity = compute_disparity(frame.left, frame.right, self.sgbm)
            sample = Sample(
                image=frame.left,
                labels=frame.train_ids,
                disparity=disparity,
                baseline=float(frame.rig.baseline),
                name=f"seed{frame.seed}",
            )
            if self.config.cache:
                self._cache[index] = sample
        return sample
