"""From datasets to tensors: dataset selection, seeded augmentation, step-indexed batches.

The order of samples and each sample's augmentation are pure functions of (seed, epoch,
position), never of process-global RNG state. Hence a resumed run sees exactly the batches
the uninterrupted run would have seen, and a global batch split over DDP ranks or
accumulation micro-batches is the same set of augmented samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ladderseg_ros.classes import LabelSet
from ladderseg_ros.data.sample import DatasetError, Sample
from ladderseg_ros.data.synthetic import SyntheticError
from ladderseg_ros.data.synthetic.cameras import CameraVariation
from ladderseg_ros.data.synthetic_dataset import SyntheticConfig, SyntheticDataset
from ladderseg_ros.data.transforms import Compose
from ladderseg_ros.training.config import DataConfig
from ladderseg_ros.weights import IMAGENET_MEAN, IMAGENET_STD

#: ImageNet normalization (0-1 RGB), what torchvision's DenseNet weights expect.


class SegmentationDataset(Protocol):
    """What the loader reads: a label set, a length, and samples by index."""

    label_set: LabelSet

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


class Subset:
    """The first ``n`` samples of a dataset (keeps ``label_set``)."""

    def __init__(self, base: SegmentationDataset, n: int | None) -> None:
        self.base = base
        self.label_set = base.label_set
        self.n = len(base) if n is None else min(n, len(base))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.n:
            raise IndexError(index)
        return self.base[index]


def build_dataset(
    config: DataConfig, split: str, with_disparity: bool, limit: int | None = None
) -> SegmentationDataset:
    """The dataset named by ``config.dataset`` for ``split`` (labels always loaded)."""
    name = config.dataset
    if name == "synthetic":
        return SyntheticDataset(
            SyntheticConfig(
                split=split,
                num_frames=limit,
                width=config.synthetic_width,
                height=config.synthetic_height,
                # SGBM costs time per frame: only for models that read disparity.
                disparity=config.synthetic_disparity if with_disparity else "exact",
                **synthetic_cameras(config, split),
            )
        )
    if not config.root:
        raise DatasetError(f"data.root is empty: dataset {name!r} needs the path of its root")
    if name == "cityscapes":
        from ladderseg_ros.data.cityscapes import CityscapesDataset

        ds = CityscapesDataset(config.root, split, with_disparity=with_disparity)
    elif name == "kitti":
        from ladderseg_ros.data.kitti import KittiDataset

        ds = KittiDataset(config.root, split, with_disparity=with_disparity)
    elif name == "voc":
        if with_disparity:
            raise DatasetError("voc has no stereo: a scale-selection model cannot train on it")
        from ladderseg_ros.data.voc import VocDataset

        ds = VocDataset(config.root, split)
    elif name == "folder":
        from ladderseg_ros.data.folder import FolderDataset

        ds = FolderDataset(config.root, split, config.classes, config.folder_format, with_disparity)
    else:
        raise DatasetError(
            f"data.dataset {name!r}: expected cityscapes, kitti, voc, folder or synthetic"
        )
    return Subset(ds, limit)


def synthetic_cameras(config: DataConfig, split: str) -> dict:
    """``SyntheticConfig`` camera fields from ``data.synthetic_*``.

    Nothing for ``fixed``; for ``varied`` the ranges, the trained focal and, on the
    training split, the scale jitter and crop-window rendering.

    Raises:
        DatasetError: ``synthetic_cameras`` is unknown or a range is impossible.
    """
    if config.synthetic_cameras == "fixed":
        return {}
    if config.synthetic_cameras != "varied":
        raise DatasetError(
            f"data.synthetic_cameras {config.synthetic_cameras!r}: expected fixed or varied"
        )
    try:
        variation = CameraVariation(
            presets=tuple(p.strip() for p in config.synthetic_presets.split(",") if p.strip()),
            focal_factor=(config.synthetic_focal_min, config.synthetic_focal_max),
            weather=config.synthetic_weather,
        )
    except SyntheticError as exc:
        raise DatasetError(f"data.synthetic_*: {exc}") from None
    train = split == config.train_split
    return {
        "cameras": variation,
        "focal": config.synthetic_focal,
        "scale": (config.synthetic_scale_min, config.synthetic_scale_max) if train else (1, 1),
        "window": train,
    }


@dataclass(frozen=True)
class SampleKey:
    """Which sample to load and the seed of its augmentation."""

    index: int
    seed: tuple[int, int, int]


class AugmentedDataset:
    """Applies ``transform`` with a generator seeded by the key (None: no transform)."""

    def __init__(self, base: SegmentationDataset, transform: Compose | None) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: SampleKey | int) -> Sample:
        if isinstance(key, int):
            key = SampleKey(key, (0, 0, key))
        sample = self.base[key.index]
        if self.transform is not None:
            sample = self.transform(sample, np.random.default_rng(list(key.seed)))
        return sample


class StepBatchSampler:
    """Micro-batches of one epoch from ``start_step`` on, for this rank.

    Step ``s`` of epoch ``e`` uses positions ``s*G .. (s+1)*G`` of a permutation seeded by
    (seed, e), with ``G = batch_size * accumulate * world_size``; chunk ``rank * accumulate
    + m`` of it is this rank's micro-batch ``m``. The incomplete last global batch is dropped.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        accumulate: int,
        rank: int,
        world_size: int,
        seed: int,
        epoch: int,
        start_step: int = 0,
    ) -> None:
        self.n = num_samples
        self.bs = batch_size
        self.acc = accumulate
        self.rank = rank
        self.global_batch = batch_size * accumulate * world_size
        self.seed = seed
        self.epoch = epoch
        self.start_step = start_step

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the data (a partial last batch is dropped)."""
        return self.n // self.global_batch

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch - self.start_step) * self.acc

    def __iter__(self) -> Iterator[list[SampleKey]]:
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        for step in range(self.start_step, self.steps_per_epoch):
            base = step * self.global_batch
            for m in range(self.acc):
                first = base + (self.rank * self.acc + m) * self.bs
                yield [
                    SampleKey(int(perm[p]), (self.seed, self.epoch, p))
                    for p in range(first, first + self.bs)
                ]


@dataclass
class Batch:
    """Network-ready tensors of a list of samples."""

    image: torch.Tensor  # (N, 3, H, W) float, normalized
    labels: torch.Tensor  # (N, H, W) int64, 255 = ignore
    disparity: torch.Tensor | None  # (N, 1, H, W) float32 px
    baseline: torch.Tensor | None  # (N,) float32 m
    names: list[str]

    def to(self, device: torch.device) -> Batch:
        """The batch on ``device`` (non-blocking copies)."""

        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(
            mv(self.image), mv(self.labels), mv(self.disparity), mv(self.baseline), self.names
        )

    def pin_memory(self) -> Batch:
        """The batch in pinned memory (the DataLoader calls this with ``pin_memory``)."""

        def pin(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.pin_memory()

        return Batch(
            pin(self.image), pin(self.labels), pin(self.disparity), pin(self.baseline), self.names
        )


def normalize_images(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32 ImageNet-normalized."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def collate(samples: list[Sample]) -> Batch:
    """Stack samples of equal size; disparity only if every sample has it."""
    sizes = {s.image.shape[:2] for s in samples}
    if len(sizes) != 1:
        raise DatasetError(f"cannot batch images of different sizes {sorted(sizes)}; crop them")
    for s in samples:
        if s.labels is None:
            raise DatasetError(f"sample {s.name}: no labels to train or validate on")
    image = normalize_images(np.stack([s.image for s in samples]))
    labels = torch.from_numpy(np.stack([s.labels for s in samples])).long()
    disparity = baseline = None
    if all(s.disparity is not None for s in samples):
        disparity = torch.from_numpy(np.stack([s.disparity for s in samples])).float()[:, None]
        baseline = torch.tensor([float(s.baseline or 0.0) for s in samples], dtype=torch.float32)
    return Batch(image, labels, disparity, baseline, [s.name for s in samples])
