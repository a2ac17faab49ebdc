"""The training loop behind ``ladderseg train`` (the subcommand is ``cli/train.py``).

Single process, or one process per device under ``torchrun`` (DistributedDataParallel).
Losses are normalized by the valid-pixel count of the whole global batch, and batches are
step-indexed (see ``batching``), so N ranks x B samples equal 1 rank x N*B samples (up to
BatchNorm statistics, which are per rank unless SyncBatchNorm runs on CUDA) and a resumed
run continues exactly. Ctrl-C finishes the current step, checkpoints and stops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ladderseg_ros.classes import IGNORE_INDEX, LabelSet
from ladderseg_ros.data.synthetic.rig import KITTI_RIG
from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
from ladderseg_ros.data.transforms import Compose, Resize, build_train_transform
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import refuse_existing, write_bytes_atomic
from ladderseg_ros.model import VARIANTS, build_model
from ladderseg_ros.stereo import SgbmConfig
from ladderseg_ros.training.batching import (
    AugmentedDataset,
    Batch,
    StepBatchSampler,
    build_dataset,
    collate,
)
from ladderseg_ros.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ladderseg_ros.training.config import DataConfig, TrainConfig, config_from_dict
from ladderseg_ros.training.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown_distributed,
)
from ladderseg_ros.training.evaluation import ConfusionMatrix
from ladderseg_ros.training.losses import combine, segmentation_loss_terms
from ladderseg_ros.training.plots import plot_confusion, plot_curves
from ladderseg_ros.weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    WeightsError,
    WeightsMetadata,
    init_from_weights,
    load_torchvision_densenet,
    read_metadata,
    save_weights,
)

if TYPE_CHECKING:
    from types import FrameType

    from torch.utils.tensorboard import SummaryWriter

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
#: Keys that may differ between a run and its resumption (they do not change the result).
RESUMABLE_CHANGES = frozenset(
    {"run.device", "run.threads", "run.export_onnx", "run.log_every_steps", "data.num_workers"}
)


class TrainError(LadderSegError):
    """Training cannot start or continue (existing output, mismatched resume, ...)."""


@dataclasses.dataclass
class History:
    """What the plots and the model card are made of."""

    loss_steps: list[int] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)
    val_steps: list[int] = dataclasses.field(default_factory=list)
    mious: list[float] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return dataclasses.asdict(self)


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("run.device=cuda but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise TrainError(
            f"run.device {name!r}: expected auto, cuda or cpu (pick a GPU with "
            "CUDA_VISIBLE_DEVICES; several: torchrun)"
        )
    return torch.device(name)


def build_network(
    config: TrainConfig, num_classes: int, label_set: LabelSet | None = None
) -> nn.Module:
    """The model of ``config.model``; checkpointing with the BN momentum correction.

    ``label_set`` (the classes trained) lets ``model.init_weights`` come from weights of
    another class set (head rows matched by class name, ``weights.init_from_weights``).
    """
    if config.model.variant not in VARIANTS:
        raise TrainError(
            f"model.variant {config.model.variant!r}: known variants {', '.join(VARIANTS)}"
        )
    variant = VARIANTS[config.model.variant]
    backbone = dataclasses.replace(variant.backbone, checkpointing=config.model.checkpointing)
    model = build_model(variant, num_classes, backbone=backbone)
    if config.model.imagenet_weights:
        load_torchvision_densenet(model, config.model.imagenet_weights)
    if config.model.init_weights:
        try:
            init_from_weights(model, resolve_init_weights(config.model.init_weights), label_set)
        except WeightsError as exc:
            raise TrainError(f"model.init_weights: {exc}") from exc
    if config.model.checkpointing:
        correct_bn_momentum_for_checkpointing(model)
    return model


def resolve_init_weights(path: str) -> Path:
    """``model.init_weights`` as a file.

    As given (absolute, or relative to the working directory), else relative to the folder
    holding the ``ladderseg_ros`` package, so that a config naming ``ladderseg_ros/assets/...``
    works from any directory and from an install.
    """
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given
    packaged = Path(__file__).resolve().parents[2] / given
    return packaged if packaged.exists() else given


def correct_bn_momentum_for_checkpointing(model: nn.Module) -> int:
    """Sets the momentum of BatchNorms inside recomputed segments; returns their count.

    They run forward twice per step; momentum ``1 - sqrt(1 - m)`` applied twice equals
    ``m`` once (Krešo et al. 2020).
    """
    count = 0
    for module in model.modules():
        if getattr(module, "checkpointing", False) and isinstance(
            getattr(module, "norm1", None), nn.BatchNorm2d
        ):
            bn = module.norm1
            if bn.momentum is not None:
                bn.momentum = 1.0 - math.sqrt(1.0 - bn.momentum)
                count += 1
    return count


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Backbone at ``lr * backbone_lr_factor``, the rest (SPP, up-path, heads) at ``lr``."""
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if name.startswith("backbone.") else rest).append(p)
    o = config.optim
    return [
        {"params": backbone, "lr": o.lr * o.backbone_lr_factor, "lr_scale": o.backbone_lr_factor},
        {"params": rest, "lr": o.lr, "lr_scale": 1.0},
    ]


def poly_lr(config: TrainConfig, step: int, total: int) -> float:
    """lr_min + (lr - lr_min) * (1 - t/T)^power, after an optional linear warm-up."""
    o = config.optim
    if o.warmup_steps and step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    t = min(step, total) / max(total, 1)
    return o.lr_min + (o.lr - o.lr_min) * (1.0 - t) ** o.poly_power


class _StopFlag:
    """First Ctrl-C: stop after the current step (and checkpoint). Second: abort now."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> _StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt: stopping after this step (Ctrl-C again to abort)")

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _config_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ.

    A key missing on one side (a checkpoint older than the key) counts at its default, so a
    new option set to a new value is a difference.
    """
    defaults = TrainConfig().to_dict()

    def value(config: dict[str, Any], section: str, key: str) -> object:
        return config.get(section, {}).get(key, defaults.get(section, {}).get(key))

    keys = {(section, key) for c in (saved, current) for section in c for key in c[section]}
    return sorted(
        f"{section}.{key}"
        for section, key in keys
        if value(saved, section, key) != value(current, section, key)
    )


class Trainer:
    """Owns model, optimizer, data and bookkeeping of one training run."""

    def __init__(self, config: TrainConfig, resume: Path | None = None) -> None:
        self.config = config
        # The code that trains is the code at start, whatever HEAD is when the run ends.
        self.commit = _git_commit()
        self.device = select_device(config.run.device)
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        self.dist: DistInfo = init_distributed(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.dist.local_rank)
            self.device = torch.device("cuda", self.dist.local_rank)
        self.out_dir = Path(config.run.output_dir)
        torch.manual_seed(config.run.seed)

        run = config.run
        if min(run.batch_size, run.accumulate, run.epochs, run.val_every_epochs) < 1:
            raise TrainError(
                "run.batch_size, run.accumulate, run.epochs and run.val_every_epochs must be "
                f"positive, got {run.batch_size}, {run.accumulate}, {run.epochs}, "
                f"{run.val_every_epochs}"
            )
        self.train_set, self.val_set = self._datasets()
        self.label_set = self.train_set.base.label_set
        self.num_classes = self.label_set.num_classes

        self.model = build_network(config, self.num_classes, self.label_set).to(self.device)
        self.uses_disparity = bool(self.model.uses_disparity)
        self.net: nn.Module = self.model
        if self.dist.enabled:
            if run.sync_bn and self.device.type == "cuda":
                self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
                self.model = self.net
            self.net = nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        self.optimizer = torch.optim.Adam(
            param_groups(self.model, config),
            lr=config.optim.lr,
            weight_decay=config.optim.weight_decay,
        )
        self.amp = run.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

        sampler = self._sampler(0)
        self.steps_per_epoch = sampler.steps_per_epoch
        if self.steps_per_epoch < 1:
            raise TrainError(
                f"{len(self.train_set)} training samples are fewer than one global batch of "
                f"{sampler.global_batch} (batch_size x accumulate x world size)"
            )
        self.total_steps = self.steps_per_epoch * run.epochs
        self.step = 0
        #: Step of the last validation (0 = none): a stop between an epoch's last step and
        #: its validation is caught up on resume, so no validation is skipped for good.
        self.last_val_step = 0
        self.history = History()
        self.last_matrix: np.ndarray | None = None
        if resume is not None:
            self._restore(resume)
        elif self.dist.is_main:
            refuse_existing(
                self.out_dir / CHECKPOINT_NAME,
                TrainError,
                ": pass --resume to continue that run or set run.output_dir to a new directory",
            )
        self._writer: SummaryWriter | None = None
        self._writer_opened = False

    # ------------------------------------------------------------------ set-up
    @property
    def writer(self) -> SummaryWriter | None:
        """TensorBoard's writer, opened on first use (a resumed finished run opens none)."""
        if not self._writer_opened:
            self._writer_opened = True
            self._writer = self._tensorboard()
        return self._writer

    def _datasets(self) -> tuple[AugmentedDataset, AugmentedDataset]:
        c = self.config
        variant = VARIANTS.get(c.model.variant)
        with_disp = bool(variant is not None and variant.uses_disparity)
        train = build_dataset(c.data, c.data.train_split, with_disp, c.data.num_train)
        val = build_dataset(c.data, c.data.val_split, with_disp, c.data.num_val)
        val_tf = None
        if c.data.val_width and c.data.val_height:
            val_tf = Compose([Resize(c.data.val_width, c.data.val_height)])
        return (
            AugmentedDataset(train, build_train_transform(c.augment)),
            AugmentedDataset(val, val_tf),
        )

    def _sampler(self, epoch: int, start_step: int = 0) -> StepBatchSampler:
        r = self.config.run
        return StepBatchSampler(
            len(self.train_set),
            r.batch_size,
            r.accumulate,
            self.dist.rank,
            self.dist.world_size,
            r.seed,
            epoch,
            start_step,
        )

    def _tensorboard(self) -> SummaryWriter | None:
        if not self.dist.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard not installed: no TensorBoard logs (history.json and plots)")
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs: weights, optimizer, scaler, step, config, RNGs."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "last_val_step": self.last_val_step,
            "rng_torch": torch.get_rng_state(),
            "history": self.history.to_dict(),
            "confusion": torch.from_numpy(self.last_matrix)
            if self.last_matrix is not None
            else torch.zeros(0, dtype=torch.int64),
            "config": json.dumps(self.config.to_dict()),
        }

    def save(self) -> None:
        """Writes the checkpoint (rank 0), then waits for every rank."""
        if self.dist.is_main:
            save_checkpoint(self.out_dir / CHECKPOINT_NAME, self.state())
            log.info("checkpoint at step %d: %s", self.step, self.out_dir / CHECKPOINT_NAME)
        barrier(self.dist)

    def _restore(self, path: Path) -> None:
        state = load_checkpoint(path)
        saved = json.loads(state["config"])
        diff = [k for k in _config_diff(saved, self.config.to_dict()) if k not in RESUMABLE_CHANGES]
        if diff:
            raise CheckpointError(
                f"{path}: saved with a different config ({', '.join(diff)}); an exact resume "
                "needs the same one"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng_torch"])
        self.history = History(**state["history"])
        # Checkpoints from before last_val_step was recorded: the history knows it.
        fallback = self.history.val_steps[-1] if self.history.val_steps else 0
        self.last_val_step = int(state.get("last_val_step", fallback))
        if state["confusion"].numel():
            self.last_matrix = state["confusion"].numpy()
        log.info("resumed from %s at step %d/%d", path, self.step, self.total_steps)

    # ------------------------------------------------------------------ loop

    def _forward(self, batch: Batch) -> dict[str, Any]:
        kwargs = {}
        if self.uses_disparity:
            kwargs = {"disparity": batch.disparity, "baseline": batch.baseline}
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            return self.net(batch.image, **kwargs)

    def _aux_cells(self, batches: list[Batch], sizes: list[tuple[int, int]]) -> float:
        """Valid cells over all auxiliary levels (each level weighted 1/levels)."""
        total = 0.0
        for b in batches:
            valid = (b.labels != IGNORE_INDEX).float().unsqueeze(1)
            for size in sizes:
                cells = torch.nn.functional.adaptive_max_pool2d(valid, size)
                total += float(cells.sum()) / len(sizes)
        return total

    def train_step(self, micro: list[Batch]) -> float:
        """One optimizer step over this rank's micro-batches; returns the global loss."""
        self.net.train()
        lr = poly_lr(self.config, self.step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        self.optimizer.zero_grad(set_to_none=True)
        micro = [b.to(self.device) for b in micro]
        world = self.dist.world_size
        totals = torch.zeros(2, dtype=torch.float64)
        totals[0] = float(sum(int((b.labels != IGNORE_INDEX).sum()) for b in micro))
        loss_sum = 0.0
        for i, batch in enumerate(micro):
            last = i == len(micro) - 1
            sync = (
                self.net.no_sync() if (self.dist.enabled and not last) else contextlib.nullcontext()
            )
            with sync:
                out = self._forward(batch)
                aux = out.get("aux", [])
                if i == 0:
                    totals[1] = self._aux_cells(micro, [tuple(a.shape[-2:]) for a in aux])
                    all_reduce_sum(totals, self.dist)
                terms = segmentation_loss_terms(out["out"], aux, batch.labels, self.num_classes)
                loss = combine(terms, float(totals[0]), float(totals[1]), self.config.loss)
                self.scaler.scale(loss * world).backward()
                loss_sum += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return loss_sum

    @torch.no_grad()
    def validate(self) -> ConfusionMatrix:
        """Confusion matrix over the validation set, sharded over ranks and summed."""
        self.model.eval()
        cm = ConfusionMatrix(self.num_classes)
        for i in range(self.dist.rank, len(self.val_set), self.dist.world_size):
            batch = collate([self.val_set[i]]).to(self.device)
            kwargs = {}
            if self.uses_disparity:
                kwargs = {"disparity": batch.disparity, "baseline": batch.baseline}
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = self.model(batch.image, **kwargs)["out"]
            cm.update(logits.argmax(1).cpu().numpy(), batch.labels.cpu().numpy(), batch.names[0])
        matrix = torch.from_numpy(cm.matrix)
        cm.matrix = all_reduce_sum(matrix, self.dist).numpy()
        return cm

    def _loader(self, epoch: int, start: int) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_sampler=self._sampler(epoch, start),
            collate_fn=collate,
            num_workers=self.config.data.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def fit(self) -> History:
        """Train from ``self.step`` to the end; checkpoints, validation, logs."""
        run = self.config.run
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            _write_text(self.out_dir / "config.yaml", self.config.to_yaml())
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not self.dist.is_main,
            desc=run.name,
            unit="step",
            dynamic_ncols=True,
            mininterval=2.0,
        )
        acc = run.accumulate
        stopped = False
        with _StopFlag() as stop:
            if self._validate_if_due():  # resumed where a stop or crash skipped it
                self.save()
            while self.step < self.total_steps and not stopped:
                epoch, start = divmod(self.step, self.steps_per_epoch)
                micro: list[Batch] = []
                t0 = time.perf_counter()
                for batch in self._loader(epoch, start):
                    micro.append(batch)
                    if len(micro) < acc:
                        continue
                    loss = self.train_step(micro)
                    micro = []
                    flag = torch.tensor([float(stop.requested)])
                    stopped = bool(all_reduce_sum(flag, self.dist).item() > 0)
                    self._log_step(loss, bar, time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    if run.checkpoint_every_steps and self.step % run.checkpoint_every_steps == 0:
                        self.save()
                    if stopped:
                        break
                if stopped:
                    break
                self._validate_if_due()
                self.save()
        bar.close()
        if stopped:
            self.save()
            raise KeyboardInterrupt
        return self.history

    def _log_step(self, loss: float, bar: tqdm, seconds: float) -> None:
        world_loss = all_reduce_sum(torch.tensor([loss]), self.dist).item()
        if not self.dist.is_main:
            return
        self.history.loss_steps.append(self.step)
        self.history.losses.append(world_loss)
        bar.update(1)
        bar.set_postfix(loss=f"{world_loss:.3f}", s_per_step=f"{seconds:.2f}")
        if self.writer is not None:
            self.writer.add_scalar("train/loss", world_loss, self.step)
        if self.step % self.config.run.log_every_steps == 0:
            log.debug("step %d loss %.4f", self.step, world_loss)

    def validation_due(self) -> bool:
        """Whether the model at ``self.step`` should be (and has not been) validated.

        The end of the run, or an epoch boundary due by ``val_every_epochs`` passed since the last
        validation. Checked at each epoch end and once at the start of ``fit``: a stop or
        crash between a boundary's checkpoint and its validation resumes at that boundary,
        so the late validation sees the same model the uninterrupted run validated.
        """
        if self.step == 0 or self.last_val_step >= self.step:
            return False
        if self.step >= self.total_steps:
            return True
        every = self.config.run.val_every_epochs
        due_epoch = self.step // self.steps_per_epoch // every * every
        return due_epoch > 0 and due_epoch * self.steps_per_epoch > self.last_val_step

    def _validate_if_due(self) -> bool:
        if not self.validation_due():
            return False
        self._validate_and_log(self.step // self.steps_per_epoch)
        return True

    def _validate_and_log(self, epoch: int) -> None:
        cm = self.validate()
        self.last_val_step = self.step
        if not self.dist.is_main:
            return
        miou = float(cm.miou())
        self.history.val_steps.append(self.step)
        self.history.mious.append(miou)
        self.last_matrix = cm.matrix.copy()
        log.info(
            "epoch %d step %d: val mIoU %.2f%%\n%s",
            epoch,
            self.step,
            100 * miou,
            cm.format_table(self.label_set),
        )
        if self.writer is not None:
            self.writer.add_scalar("val/miou", miou, self.step)
        _write_text(self.out_dir / "history.json", json.dumps(self.history.to_dict()))

    # ------------------------------------------------------------------ end

    def finish(self, export_onnx: bool = False) -> Path | None:
        """Plots, per-class IoU table and weights export (main rank). Returns weights path."""
        if not self.dist.is_main:
            return None
        h = self.history
        plot_curves(self.out_dir / "curves.png", h.loss_steps, h.losses, h.val_steps, h.mious)
        metrics: dict[str, float] = {}
        if self.last_matrix is not None:
            cm = ConfusionMatrix(self.num_classes)
            cm.matrix = self.last_matrix
            plot_confusion(self.out_dir / "confusion.png", cm.matrix, self.label_set.names)
            _write_text(self.out_dir / "val_iou.txt", cm.format_table(self.label_set) + "\n")
            metrics["val_miou"] = float(cm.miou())
            metrics["val_pixel_accuracy"] = float(cm.pixel_accuracy())
            for name, iou in zip(self.label_set.names, cm.iou(), strict=True):
                if not np.isnan(iou):
                    metrics[f"val_iou/{name}"] = float(iou)
        weights = self.out_dir / "model.safetensors"
        metadata = self._export(weights, metrics)
        if export_onnx:
            self.export_onnx(metadata)
        if self._writer is not None:
            self._writer.close()
        return weights

    def export_onnx(self, metadata: WeightsMetadata) -> Path:
        """Writes ``model.onnx`` beside ``model.safetensors`` (``metadata`` embedded)."""
        from ladderseg_ros.inference.export import export_onnx as to_onnx

        path = self.out_dir / "model.onnx"
        to_onnx(self.model, metadata, path, example_size=metadata.input_size or (256, 128))
        log.info("ONNX written: %s", path)
        return path

    def _export(self, path: Path, metrics: dict[str, float]) -> WeightsMetadata:

        c = self.config
        input_size, focal = trained_scale(c.data)
        metadata = WeightsMetadata.for_class_set(
            self.model.config,
            self.label_set,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            input_size=input_size,
            focal_length=focal,
            provenance={
                "command": "ladderseg train",
                "run": c.run.name,
                "dataset": c.data.dataset,
                "seed": str(c.run.seed),
                "steps": str(self.step),
                "commit": self.commit,
                "config": json.dumps(c.to_dict()),
                **_init_provenance(c.model.init_weights),
                **_sgbm_provenance(c.data),
            },
            metrics=metrics,
        )
        self.model.eval()
        save_weights(path, self.model, metadata)
        log.info("weights written: %s", path)
        return metadata


def trained_scale(data: DataConfig) -> tuple[tuple[int, int] | None, float | None]:
    """(input size, focal length in pixels at that size) a training run's weights record.

    Synthetic data: the KITTI rig at the size rendered (fixed cameras), or at the trained
    focal length ``synthetic_focal`` (varied cameras: every camera is rendered at that focal
    length, so the KITTI rig's image at it stands for the trained scale). Other datasets
    record none here (their loaders know no single camera).
    """
    if data.dataset != "synthetic":
        return None, None
    if data.synthetic_cameras == "varied" and data.synthetic_focal > 0:
        scale = data.synthetic_focal / KITTI_RIG.focal
        size = (round(KITTI_RIG.width * scale), round(KITTI_RIG.height * scale))
        return size, float(data.synthetic_focal)
    rig = KITTI_RIG.resized(data.synthetic_width, data.synthetic_height)
    return (rig.width, rig.height), float(data.synthetic_focal or rig.focal)


def training_sgbm(data: DataConfig) -> SgbmConfig | None:
    """The SGBM settings that made the training disparity; None when it was not SGBM's.

    The synthetic dataset matches each rendered pair with ``SgbmConfig``'s defaults and the
    range ``sgbm_num_disparities(rig)``; this is that setting for the KITTI rig at the
    trained scale (``trained_scale``; with varied cameras each camera's range follows its
    own rig). The weights record it (provenance ``sgbm``, JSON) so that an entry point can
    match the pair as training did.
    """
    if data.dataset != "synthetic" or data.synthetic_disparity != "sgbm":
        return None
    size, _ = trained_scale(data)
    rig = KITTI_RIG.resized(*size) if size is not None else KITTI_RIG
    return SgbmConfig(num_disparities=sgbm_num_disparities(rig))


def _sgbm_provenance(data: DataConfig) -> dict[str, str]:
    sgbm = training_sgbm(data)
    return {} if sgbm is None else {"sgbm": json.dumps(dataclasses.asdict(sgbm))}


def _init_provenance(path: str | None) -> dict[str, str]:
    """The starting weights of a fine-tuning run: file name and SHA-256."""
    if not path:
        return {}
    digest = hashlib.sha256(resolve_init_weights(path).read_bytes()).hexdigest()
    return {"init_weights": Path(path).name, "init_weights_sha256": digest}


def _write_text(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode(), overwrite=True)


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=here,
        ).stdout.strip()
        return (head + ("-dirty" if dirty else "")) if head else "unknown"
    except OSError:
        return "unknown"


def train(config: TrainConfig, resume: Path | None = None) -> Trainer:
    """Run (or continue) a training to the end and export; returns the trainer.

    Resuming a run that already finished (every step done, its weights written) changes
    nothing: its outputs keep the provenance of the run that made them; only an ONNX file
    asked for now (``run.export_onnx``) and not written then is added.
    """
    trainer = Trainer(config, resume)
    weights = trainer.out_dir / "model.safetensors"
    finished = resume is not None and trainer.step >= trainer.total_steps
    if finished and weights.is_file():
        try:
            onnx_missing = not weights.with_suffix(".onnx").is_file()
            if trainer.dist.is_main and config.run.export_onnx and onnx_missing:
                trainer.export_onnx(read_metadata(weights))  # newly asked for: only that
            log.warning(
                "%s finished at step %d/%d: its outputs are kept as they are",
                trainer.out_dir,
                trainer.step,
                trainer.total_steps,
            )
        finally:
            shutdown_distributed()
        return trainer
    try:
        trainer.fit()
        trainer.finish(config.run.export_onnx)
    finally:
        shutdown_distributed()
    return trainer


__all__ = ["TrainError", "Trainer", "config_from_dict", "train"]
