"""The synthetic stereo world as a dataset, rendered on the fly from disjoint seed ranges.

Frames are a pure function of their seed, so train/val/test never overlap and every
process (DDP rank, data-loader worker, resumed run) sees the same data. Its Cityscapes-layout
export is read by ``CityscapesDataset``.

Disparity is the renderer's exact one, or SGBM's on the rendered pair: the node matches the
camera pair with SGBM, so a scale-selection model trained on SGBM disparity learns the holes,
the invalid left band and the noise it will be given.

With ``cameras`` set, each seed is its own virtual camera (``synthetic.cameras``): either
preset's geometry with focal length, baseline, height, pitch, size, street density and
weather varied, rendered at the trained focal length (times a scale jitter), as the
``Segmenter`` resizes a camera image. Training renders a window of the crop size only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ladderseg_ros.classes import CITYSCAPES, LabelSet
from ladderseg_ros.data.sample import DatasetError, Sample
from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS, StereoRig, render_frame
from ladderseg_ros.data.synthetic.cameras import (
    CameraVariation,
    crop_rig,
    sample_camera,
    trained_view,
)
from ladderseg_ros.stereo import SgbmConfig, compute_disparity

log = logging.getLogger(__name__)

DISPARITY_SOURCES: tuple[str, ...] = ("exact", "sgbm")
#: Metres: the nearest surface the synthetic streets put in view (parked cars beside the
#: ego car, at the image edge); over 200 train and val seeds the nearest was 1.77 m.
NEAREST_DEPTH = 1.75


def sgbm_num_disparities(rig: StereoRig) -> int:
    """SGBM search range for ``rig``.

    The smallest multiple of 16 covering the largest disparity of the synthetic world at
    the rig's width (80 at 416 px wide, 32 at 96).
    """
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
        cameras: Vary the camera per seed within these ranges (None = the KITTI rig at
            ``width`` x ``height`` for every frame).
        focal: With ``cameras``: the trained focal length in pixels every camera is rendered
            at (0 = the KITTI rig's at ``width``, 371.8 px at 640).
        scale: With ``cameras``: log-uniform jitter factor range on ``focal``.
        window: With ``cameras``: render a random ``width`` x ``height`` window of each
            camera's image (training crops) instead of the whole image (validation).
    """

    split: str = "train"
    num_frames: int | None = None
    width: int = 320
    height: int = 96
    cache: bool = True
    disparity: str = "exact"
    cameras: CameraVariation | None = None
    focal: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    window: bool = False

    def __post_init__(self) -> None:
        if self.focal < 0 or not 0 < self.scale[0] <= self.scale[1]:
            raise DatasetError(
                f"synthetic focal {self.focal} must be >= 0 and scale {list(self.scale)} an "
                "ordered positive range"
            )
        if self.disparity not in DISPARITY_SOURCES:
            raise DatasetError(
                f"synthetic disparity {self.disparity!r}: expected one of "
                f"{', '.join(DISPARITY_SOURCES)}"
            )


class SyntheticDataset:
    """Frames of the procedural road world with exact trainIds and disparity."""

    label_set: LabelSet = CITYSCAPES

    def __init__(self, config: SyntheticConfig) -> None:
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
        #: The focal length (pixels) every varied camera is rendered at, before jitter.
        self.focal = config.focal or self.rig.focal
        self._cache: dict[int, Sample] = {}

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> Sample:
        sample = self._cache.get(index)
        if sample is None and self.config.cameras is not None:
            sample = self._render_varied(self.seeds[index])
            if self.config.cache:
                self._cache[index] = sample
        if sample is None:
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

    def _render_varied(self, seed: int) -> Sample:
        """The seed's virtual camera at the trained focal: the window or the whole image.

        With its weather. SGBM (if asked) also matches a left margin of the image, as it
        would on the whole image, so the window's invalid band is where the camera's is.
        """
        c = self.config
        camera = sample_camera(seed, c.cameras)
        full, (x0, y0, w, h) = trained_view(
            seed, camera, self.focal, c.scale, (c.width, c.height) if c.window else None
        )
        sgbm = SgbmConfig(num_disparities=sgbm_num_disparities(full))
        margin = min(x0, sgbm.num_disparities) if c.disparity == "sgbm" else 0
        rig = crop_rig(full, x0 - margin, y0, w + margin, h)
        frame = render_frame(seed, rig, density=camera.density)
        noise = np.random.default_rng([seed, 0x401CE])
        left = camera.weather.apply(frame.left, frame.depth, noise)
        disparity = frame.disparity
        if c.disparity == "sgbm":
            right = camera.weather.apply(frame.right, frame.right_depth, noise)
            disparity = compute_disparity(left, right, sgbm)
        return Sample(
            image=np.ascontiguousarray(left[:, margin:]),
            labels=np.ascontiguousarray(frame.train_ids[:, margin:]),
            disparity=np.ascontiguousarray(disparity[:, margin:]),
            baseline=float(rig.baseline),
            name=f"seed{seed}",
        )
