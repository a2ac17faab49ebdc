"""The synthetic stereo world as a dataset, rendered on the fly from disjoint seed ranges.

Frames are a pure function of their seed, so train/val/test never overlap and every
process (DDP rank, data-loader worker, resumed run) sees the same data. Its Cityscapes-layout
export is read by ``CityscapesDataset``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ladderseg_ros.classes import CITYSCAPES, LabelSet
from ladderseg_ros.data.sample import DatasetError, Sample

log = logging.getLogger(__name__)


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
    """

    split: str = "train"
    num_frames: int | None = None
    width: int = 320
    height: int = 96
    cache: bool = True


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
        self._cache: dict[int, Sample] = {}

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> Sample:
        sample = self._cache.get(index)
        if sample is None:
            from ladderseg_ros.data.synthetic import render_frame

            frame = render_frame(self.seeds[index], self.rig)
            sample = Sample(
                image=frame.left,
                labels=frame.train_ids,
                disparity=frame.disparity,
                baseline=float(frame.rig.baseline),
                name=f"seed{frame.seed}",
            )
            if self.config.cache:
                self._cache[index] = sample
        return sample
