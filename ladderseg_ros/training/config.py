"""The training configuration: typed dataclasses, read from YAML once at the CLI edge.

``key=value`` overrides use dotted paths (``optim.lr=1e-3``, ``train.epochs=2``); values are
parsed as YAML and checked against the field's type, so a typo is an error, not a silent
new key.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ladderseg_ros.data.transforms import AugmentConfig
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import InputFileError, one_line, read_text
from ladderseg_ros.training.losses import LossConfig


class ConfigError(LadderSegError, ValueError):
    """A training config file or override is malformed; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to train and validate on.

    Attributes:
        dataset: ``cityscapes``, ``kitti``, ``voc``, ``synthetic`` (rendered on the fly;
            its Cityscapes-layout export is read with ``cityscapes``) or ``folder`` (a team's
            own frames: a CVAT export, a Vistas folder or images/ + labels/,
            ``ladderseg_ros.data.folder``).
        root: Dataset root (unused for ``synthetic``).
        classes: ``folder`` only: the class set (a built-in name or a file: class set YAML,
            CVAT ``labelmap.txt``, Vistas ``config.json``); empty = the folder's own.
        folder_format: ``folder`` only: ``auto`` (detected), ``cvat``, ``vistas`` or ``plain``.
        train_split, val_split: Split names of that dataset.
        num_train, num_val: Use only the first n samples (None = all).
        synthetic_width, synthetic_height: Render size of the synthetic world.
        synthetic_disparity: ``exact`` (rendered) or ``sgbm`` (matched on the rendered pair,
            as the node does) disparity for scale-selection models.
        synthetic_cameras: ``fixed`` (the KITTI rig at the render size, every frame) or
            ``varied`` (a virtual camera per seed around the presets, ``CameraVariation``,
            rendered at ``synthetic_focal``; the render size is then the training crop
            window, validation renders whole images).
        synthetic_focal: Trained focal length in pixels for ``varied`` (0 = the KITTI
            rig's at ``synthetic_width``); weights record it as their trained scale.
        synthetic_scale_min, synthetic_scale_max: Log-uniform jitter on that focal length
            (training split only; validation renders at ``synthetic_focal``).
        synthetic_focal_min, synthetic_focal_max: Factor range on each preset's focal
            length (native pixels) of the varied cameras.
        synthetic_presets: Comma-separated presets the varied cameras are drawn around.
        synthetic_weather: 0..1 strength of the varied cameras' photometric and weather
            changes.
        val_width, val_height: Resize validation images to this size (0 = native).
        num_workers: DataLoader worker processes per rank.
    """

    dataset: str = "synthetic"
    root: str = ""
    classes: str = ""
    folder_format: str = "auto"
    train_split: str = "train"
    val_split: str = "val"
    num_train: int | None = None
    num_val: int | None = None
    synthetic_width: int = 320
    synthetic_height: int = 96
    synthetic_disparity: str = "exact"
    synthetic_cameras: str = "fixed"
    synthetic_focal: float = 0.0
    synthetic_scale_min: float = 1.0
    synthetic_scale_max: float = 1.0
    synthetic_focal_min: float = 0.5
    synthetic_focal_max: float = 2.0
    synthetic_presets: str = "kitti,cityscapes"
    synthetic_weather: float = 1.0
    val_width: int = 0
    val_height: int = 0
    num_workers: int = 0


@dataclass(frozen=True)
class ModelSection:
    """The network: a variant of ``ladderseg_ros.model.VARIANTS``.

    Attributes:
        variant: Variant name (e.g. ``ldn121``, ``ldn121_ss``, ``ldn_demo``).
        imagenet_weights: torchvision DenseNet checkpoint to start the backbone from.
        checkpointing: Gradient checkpointing of dense layers (less memory, more compute).
        init_weights: A LadderSeg ``.safetensors`` file to start from (fine-tuning): every
            tensor the network shares with the file by name and shape is copied; the run's
            weights record the file and its SHA-256. Its classes may differ from the data's:
            head rows are carried over for classes of the same name (case, ``_`` and spaces
            aside) or as the class set's ``source_names`` map says (several source classes
            merge), the other classes start fresh, and the log lists both.
    """

    variant: str = "ldn121"
    imagenet_weights: str | None = None
    init_weights: str | None = None
    checkpointing: bool = False


@dataclass(frozen=True)
class OptimConfig:
    """Adam with poly decay (DESIGN §3: 5e-4 poly(1.5) to 5e-5, backbone lr / 2, wd 1e-4)."""

    lr: float = 5e-4
    lr_min: float = 5e-5
    poly_power: float = 1.5
    backbone_lr_factor: float = 0.5
    weight_decay: float = 1e-4
    warmup_steps: int = 0


@dataclass(frozen=True)
class RunConfig:
    """Schedule, batching and bookkeeping.

    Attributes:
        batch_size: Samples per micro-batch per process.
        accumulate: Micro-batches per optimizer step; the global batch is
            ``batch_size * accumulate * world_size``.
        epochs: Passes over the training set (each pass drops its incomplete last batch).
        val_every_epochs: Validate every n epochs (and after the last).
        checkpoint_every_steps: Also checkpoint every n steps (0 = only at epoch ends).
        amp: Mixed precision on CUDA (ignored on CPU).
        sync_bn: SyncBatchNorm under DDP on CUDA (not available on CPU).
        export_onnx: Also export ``model.onnx`` at the end.
        device: ``auto``, ``cuda`` or ``cpu``.
        threads: torch intra-op threads per process (0 = torch's default).
    """

    name: str = "run"
    output_dir: str = "runs/run"
    seed: int = 0
    batch_size: int = 4
    accumulate: int = 1
    epochs: int = 30
    val_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    log_every_steps: int = 10
    amp: bool = True
    sync_bn: bool = True
    export_onnx: bool = False
    device: str = "auto"
    threads: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``ladderseg train`` needs; one YAML file with these five sections."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested dicts of plain values (sections -> keys -> values)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The config as YAML, in the layout of ``config/training/*.yaml``."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_T = TypeVar("_T")


def _convert(value: object, tp: object, key: str) -> object:
    """Check/convert a YAML value to a field type (int -> float allowed, Optional honoured)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} is not a {tp}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and type(value) is tp:
        return value
    raise ConfigError(f"{key}: {value!r} is not a {getattr(tp, '__name__', tp)}")


def _build(cls: type[_T], values: dict[str, Any], prefix: str) -> _T:
    """An instance of the config dataclass ``cls`` from YAML ``values`` (keys checked)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"{prefix or 'config'}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in values.items():
        tp = hints[name]
        key = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value or {}, key)
        else:
            kwargs[name] = _convert(value, tp, key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix or 'config'}: {exc}") from exc


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a validated TrainConfig from nested plain values (YAML)."""
    return _build(TrainConfig, values, "")


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``values`` with ``section.key=value`` overrides applied."""
    values = copy.deepcopy(values)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if key.endswith(":"):
            raise ConfigError(
                f"override {item!r}: training overrides are written section.key=value, e.g. "
                f"{key[:-1]}={raw} (NAME:=VALUE is for node parameters)"
            )
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"override {item!r}: expected section.key=value")
        section, name = parts
        values.setdefault(section, {})
        if not isinstance(values[section], dict):
            raise ConfigError(f"override {item!r}: {section} is not a section")
        values[section][name] = yaml.safe_load(raw) if raw.strip() else None
    return values


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training config and apply overrides.

    Raises:
        ConfigError: The file is missing, not YAML, or has an unknown key or wrong type.
    """
    path = Path(path)
    try:
        values = yaml.safe_load(read_text(path, "training config")) or {}
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({one_line(exc)})") from None
    try:
        return config_from_dict(apply_overrides(values, overrides or []))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
