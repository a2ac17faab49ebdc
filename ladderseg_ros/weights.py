"""Model weights: safetensors tensors plus JSON metadata in the same file; ImageNet import.

Nothing is ever unpickled: our weights are safetensors, and torchvision's ``.pth`` ImageNet
checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch

from ladderseg_ros.classes import (
    IGNORE_INDEX,
    LABEL_SETS,
    GroupSpec,
    LabelError,
    LabelSet,
    bit_palette,
    get_label_set,
    normalized_class_name,
)
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import atomic_output
from ladderseg_ros.model import LadderSeg, ModelConfig
from ladderseg_ros.model.errors import ModelError

if TYPE_CHECKING:
    from typing_extensions import Unpack

_LOG = logging.getLogger(__name__)

FORMAT = "ladderseg-weights"
FORMAT_VERSION = 3
"""2 adds ``focal_length`` (the trained scale), 3 the class set (``class_colors``,
``categories``, ``ignore_index``, ``groups``); older files still load."""
_READABLE_VERSIONS = (1, 2, 3)
_MAX_PARAMETERS = 500_000_000
"""Largest network a weights file may describe (LDN-161 has about 40 M parameters)."""
_METADATA_KEY = "ladderseg"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's own remapping of the pre-0.4 key names ("norm.1" -> "norm1", ...).
_OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


class WeightsError(LadderSegError):
    """A weights file is missing, corrupted, or does not match the model it describes."""


class MetadataFields(TypedDict, total=False):
    """The optional fields of ``WeightsMetadata``, as keyword arguments of ``for_label_set``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: tuple[int, int] | None
    focal_length: float | None
    provenance: dict[str, str]
    metrics: dict[str, float]
    class_colors: tuple[tuple[int, int, int], ...] | None
    categories: tuple[str, ...] | None
    groups: tuple[GroupSpec, ...]


@dataclass(frozen=True)
class WeightsMetadata:
    """What a weights file says about itself.

    Attributes:
        model: architecture to rebuild.
        label_set: name of the class set (``cityscapes``, ``kitti``, ``voc``, or custom).
        class_names: one name per output class.
        mean: per-channel normalization mean of RGB in [0, 1].
        std: per-channel normalization std.
        input_size: (width, height) the network was trained for, or None.
        focal_length: focal length in pixels of the training camera at ``input_size``, or
            None: with ``input_size`` it is the trained scale (objects of a given size and
            distance span focal_length * size / distance pixels).
        provenance: training data, commit, command, date.
        metrics: evaluation figures (e.g. ``val_miou``).
        class_colors: one RGB colour per class, or None (older files: a built-in set's
            colours, else the bit palette).
        categories: one category per class, or None.
        ignore_index: the label value of "no class" in label maps (255).
        groups: groups of the classes (name, colour, member class names).

    Raises:
        WeightsError: class names that do not match the model or a built-in label set, or a
            normalization, input size, focal length, colour or group out of range.
    """

    model: ModelConfig
    label_set: str
    class_names: tuple[str, ...]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: tuple[int, int] | None = None
    focal_length: float | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    class_colors: tuple[tuple[int, int, int], ...] | None = None
    categories: tuple[str, ...] | None = None
    ignore_index: int = IGNORE_INDEX
    groups: tuple[GroupSpec, ...] = ()

    def __post_init__(self) -> None:
        if len(self.class_names) != self.model.num_classes:
            raise WeightsError(
                f"{len(self.class_names)} class names for a model with "
                f"{self.model.num_classes} classes"
            )
        try:
            builtin = get_label_set(self.label_set)
        except LabelError:
            builtin = None  # a custom class set: its names are its own
        if builtin is not None and tuple(self.class_names) != tuple(builtin.names):
            raise WeightsError(
                f"label set {self.label_set!r} is built in, but the class names differ from "
                f"its {builtin.num_classes} classes ({', '.join(builtin.names[:3])}, ...): "
                f"use another label_set name for a custom class set"
            )
        if len(self.mean) != 3 or len(self.std) != 3:
            raise WeightsError(f"mean/std must hold 3 values, got {self.mean}, {self.std}")
        for name, values, low in (("mean", self.mean, 0.0), ("std", self.std, 1e-4)):
            for value in values:
                if not (isinstance(value, float) and low <= value <= 1.0):
                    raise WeightsError(
                        f"{name} must hold 3 numbers in [{low:g}, 1] (RGB in 0..1), got {values}"
                    )
        if self.input_size is not None and (
            len(self.input_size) != 2 or not all(16 <= v <= 16384 for v in self.input_size)
        ):
            raise WeightsError(
                f"input_size must be (width, height) in 16..16384, got {self.input_size}"
            )
        if self.focal_length is not None:
            if self.input_size is None:
                raise WeightsError("focal_length needs the input_size it was measured at")
            if not (isinstance(self.focal_length, float) and 1.0 <= self.focal_length <= 1e5):
                raise WeightsError(
                    f"focal_length must be a number of pixels in 1..1e5, got {self.focal_length}"
                )
        if self.ignore_index != IGNORE_INDEX:
            raise WeightsError(f"ignore_index must be {IGNORE_INDEX}, got {self.ignore_index}")
        try:
            from ladderseg_ros.groups import groups_of

            groups_of(self.class_set())
        except (LabelError, ValueError) as exc:
            raise WeightsError(f"class set: {exc}") from None

    def class_set(self) -> LabelSet:
        """The class set the weights carry: names, colours, categories and groups.

        Older files without colours: the built-in set they name, else the bit palette.

        Raises:
            LabelError: colours or categories not one per class, or repeated names.
        """
        builtin = LABEL_SETS.get(self.label_set)
        if (
            builtin is not None
            and not self.groups
            and self.categories in (None, builtin.categories)
            and (
                self.class_colors is None
                or np.array_equal(np.array(self.class_colors).reshape(-1, 3), builtin.colors)
            )
        ):
            return builtin  # names checked in __post_init__
        if self.class_colors is not None:
            colors = np.array([tuple(c)[:3] for c in self.class_colors], np.int64).reshape(-1, 3)
            if (
                len(self.class_colors) != len(self.class_names)
                or any(len(tuple(c)) != 3 for c in self.class_colors)
                or colors.min(initial=0) < 0
                or colors.max(initial=0) > 255
            ):
                raise LabelError(
                    f"class_colors must be one RGB triple 0..255 per class "
                    f"({len(self.class_names)}), got {len(self.class_colors)}"
                )
        elif builtin is not None:
            colors = builtin.colors
        else:
            colors = bit_palette(len(self.class_names))
        categories = self.categories
        if categories is None and builtin is not None:
            categories = builtin.categories
        return LabelSet(
            name=self.label_set,
            names=tuple(self.class_names),
            colors=colors,
            categories=categories,
            group_specs=self.groups,
        )

    def describe_scale(self) -> str:
        """The trained scale in words: ``640x192, fx 371.81 px``, ``640x192`` or ``none``."""
        if self.input_size is None:
            return "none"
        size = f"{self.input_size[0]}x{self.input_size[1]}"
        return f"{size}, fx {self.focal_length:g} px" if self.focal_length else size

    @classmethod
    def for_label_set(
        cls, model: ModelConfig, label_set: str, **kwargs: Unpack[MetadataFields]
    ) -> WeightsMetadata:
        """Metadata whose class names come from a known label set.

        Raises:
            LabelError: ``label_set`` is not built in.
            WeightsError: as the constructor (e.g. another number of classes than the model's).
        """
        names = tuple(get_label_set(label_set).names)
        return cls(model=model, label_set=label_set, class_names=names, **kwargs)

    @classmethod
    def for_class_set(
        cls, model: ModelConfig, label_set: LabelSet, **kwargs: Unpack[MetadataFields]
    ) -> WeightsMetadata:
        """Metadata carrying ``label_set``: names, colours, categories and groups.

        Raises:
            WeightsError: as the constructor.
        """
        return cls(
            model=model,
            label_set=label_set.name,
            class_names=tuple(label_set.names),
            class_colors=tuple(tuple(int(c) for c in rgb) for rgb in label_set.colors),
            categories=label_set.categories,
            groups=label_set.group_specs,
            **kwargs,
        )

    def to_json(self) -> str:
        """One-line JSON object, keys sorted, with ``format`` and ``version`` (``from_json``)."""
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "model": self.model.to_dict(),
                "label_set": self.label_set,
                "class_names": list(self.class_names),
                "mean": list(self.mean),
                "std": list(self.std),
                "input_size": list(self.input_size) if self.input_size else None,
                "focal_length": self.focal_length,
                "provenance": dict(self.provenance),
                "metrics": dict(self.metrics),
                "class_colors": None
                if self.class_colors is None
                else [list(c) for c in self.class_colors],
                "categories": None if self.categories is None else list(self.categories),
                "ignore_index": self.ignore_index,
                "groups": [
                    {"name": g.name, "color": list(g.color), "classes": list(g.classes)}
                    for g in self.groups
                ],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> WeightsMetadata:
        """Parses ``to_json`` output.

        Raises:
            WeightsError: inconsistent metadata or a model config out of range.
            ValueError: not JSON, another format, or an unsupported version.
            KeyError: a required field is missing.
            TypeError: a field of the wrong kind.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not {FORMAT} metadata")
        if data.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"unsupported metadata version {data.get('version')!r}")
        size = data.get("input_size")
        focal = data.get("focal_length")
        try:
            model = ModelConfig.from_dict(data["model"])
        except ModelError as exc:
            raise WeightsError(f"model: {exc}") from exc
        return cls(
            model=model,
            label_set=str(data["label_set"]),
            class_names=tuple(str(n) for n in data["class_names"]),
            mean=tuple(_number(v, "mean") for v in data["mean"]),
            std=tuple(_number(v, "std") for v in data["std"]),
            input_size=(_integer(size[0], "input_size"), _integer(size[1], "input_size"))
            if size
            else None,
            focal_length=None if focal is None else _number(focal, "focal_length"),
            provenance={str(k): str(v) for k, v in data.get("provenance", {}).items()},
            metrics={
                str(k): _number(v, f"metrics.{k}") for k, v in data.get("metrics", {}).items()
            },
            **_class_set_fields(data),
        )


def _class_set_fields(data: dict) -> dict:
    """``class_colors``, ``categories``, ``ignore_index`` and ``groups`` of a version-3 file.

    Raises:
        WeightsError: a field of the wrong kind or size (bounded before any allocation).
    """
    from ladderseg_ros.classes import group_specs

    fields: dict = {}
    colors = data.get("class_colors")
    if colors is not None:
        if not isinstance(colors, list) or len(colors) != len(data["class_names"]):
            raise WeightsError("class_colors must hold one colour per class")
        fields["class_colors"] = tuple(
            tuple(_integer(v, "class_colors") for v in rgb) for rgb in colors
        )
    categories = data.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or len(categories) != len(data["class_names"]):
            raise WeightsError("categories must hold one category per class")
        fields["categories"] = tuple(str(c) for c in categories)
    if "ignore_index" in data:
        fields["ignore_index"] = _integer(data["ignore_index"], "ignore_index")
    try:
        fields["groups"] = group_specs(data.get("groups") or [], "groups")
    except LabelError as exc:
        raise WeightsError(str(exc)) from None
    return fields


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WeightsError(f"{name} must be a number, got {value!r}")
    return float(value)


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WeightsError(f"{name} must be an integer, got {value!r}")
    return value


def save_weights(
    path: str | Path, model: LadderSeg, metadata: WeightsMetadata, overwrite: bool = True
) -> Path:
    """Writes the model's state dict and metadata as one safetensors file, atomically.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WeightsError: the metadata describes another architecture than ``model``'s.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if metadata.model != model.config:
        raise WeightsError(f"{path}: metadata model config differs from the model's config")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_output(path, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata={_METADATA_KEY: metadata.to_json()})
    _LOG.info("wrote %s (%s, %d tensors)", path, metadata.model.name, len(tensors))
    return path


def read_metadata(path: str | Path) -> WeightsMetadata:
    """Reads and validates only the metadata of a weights file (no tensors loaded).

    Raises:
        WeightsError: missing file, a directory, no readable safetensors header, or metadata
            that is absent or invalid (the message names the file).
    """
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a directory, expected a .safetensors weights file")
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    if _METADATA_KEY not in header:
        raise WeightsError(f"{path}: no ladderseg metadata in the safetensors header")
    try:
        return WeightsMetadata.from_json(header[_METADATA_KEY])
    except (WeightsError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: invalid metadata: {exc}") from exc


def load_weights(path: str | Path) -> tuple[LadderSeg, WeightsMetadata]:
    """Rebuilds the model a weights file describes and loads its tensors (eval mode).

    Returns:
        The network in eval mode on the CPU, and the file's metadata (``aux_heads`` off when
        the file has no auxiliary heads).

    Raises:
        WeightsError: missing or corrupted file, invalid metadata, or tensors that do not
            match the architecture in the metadata (names or shapes), or non-finite values.
    """
    from safetensors.torch import load_file

    path = Path(path)
    metadata = read_metadata(path)
    with torch.device("meta"):  # the network's size and tensor names, before any allocation
        skeleton = LadderSeg(metadata.model)
    count = sum(p.numel() for p in skeleton.parameters())
    if count > _MAX_PARAMETERS:
        raise WeightsError(
            f"{path}: model: {metadata.model.name!r} would have {count / 1e6:.0f} M parameters "
            f"(more than {_MAX_PARAMETERS / 1e6:.0f} M): not a LadderSeg weights file"
        )
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read tensors ({exc})") from exc
    expected = skeleton.state_dict()
    if metadata.model.aux_heads and not any(k.startswith("aux_heads.") for k in tensors):
        # Auxiliary heads serve training only: a file without them is an inference model.
        metadata = dataclasses.replace(
            metadata, model=dataclasses.replace(metadata.model, aux_heads=False)
        )
        expected = {k: v for k, v in expected.items() if not k.startswith("aux_heads.")}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{path}: tensors do not match model {metadata.model.name!r}: "
            f"missing {_preview(missing)}, unexpected {_preview(unexpected)}"
        )
    wrong = [k for k, v in expected.items() if tuple(v.shape) != tuple(tensors[k].shape)]
    if wrong:
        k = wrong[0]
        raise WeightsError(
            f"{path}: {len(wrong)} tensors have the wrong shape for model "
            f"{metadata.model.name!r}, e.g. {k}: {tuple(tensors[k].shape)} in the file, "
            f"{tuple(expected[k].shape)} expected"
        )
    model = LadderSeg(metadata.model)
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise WeightsError(f"{path}: non-finite values in {_preview(bad)}")
    model.load_state_dict(tensors)
    model.eval()
    return model, metadata


def load_tensors(path: str | Path, what: str) -> object:
    """``torch.load(path, weights_only=True)``: tensors and plain containers, never code.

    Args:
        path: a ``.pt``/``.pth`` file (a state dict, a checkpoint).
        what: what the file should be, for the message ("training checkpoint").

    Returns:
        What the file holds.

    Raises:
        WeightsError: one line naming ``what`` and ``path``: a pickle of other Python objects
            or bytes that are no pickle (refused, never run: torch's own text suggests
            ``weights_only=False``, which would run the file's code), or not a file torch
            can read.
    """
    import pickle
    import warnings

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol N": the refusal says it
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{what} {path} is not a tensors-only PyTorch file ({_unpickler_detail(exc)}): "
            "refused, files are never unpickled"
        ) from None
    except Exception as exc:  # zip, EOF and torch errors alike: one line, the file named
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise WeightsError(f"{what} {path}: not a file torch.load reads ({first})") from None


def _unpickler_detail(exc: Exception) -> str:
    """The line of torch's weights-only refusal that says what it met (not its advice)."""
    text = str(exc)
    _, marker, rest = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if marker else text).splitlines() if line.strip()]
    return lines[0].split(" was not an allowed global")[0] if lines else type(exc).__name__


def _preview(keys: list[str], limit: int = 3) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def remap_torchvision_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Torchvision DenseNet checkpoint -> our backbone's names (old ``norm.1`` keys renamed).

    The classifier is dropped: it is ImageNet's, not ours.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        match = _OLD_DENSENET_KEY.match(key)
        if match:
            key = match.group(1) + match.group(2)
        if key.startswith("classifier."):
            continue
        out[key] = value
    return out


def load_torchvision_densenet(model: LadderSeg, path: str | Path) -> None:
    """Loads torchvision ImageNet DenseNet weights (``.pth`` or ``.safetensors``) into the backbone.

    Raises:
        WeightsError: unreadable file, or any backbone key missing, unexpected or misshaped
            (``num_batches_tracked``, absent from old checkpoints, is the only exception).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: ImageNet checkpoint not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = load_tensors(path, "ImageNet checkpoint")
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read checkpoint ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of tensors")
    state = remap_torchvision_keys(state)
    expected = model.backbone.state_dict()
    if "features.norm5.weight" not in expected:  # the authors' LDN drops the classifier's BN
        state = {k: v for k, v in state.items() if not k.startswith("features.norm5.")}
    missing = sorted(k for k in set(expected) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{path}: not a {model.config.name} backbone: missing {_preview(missing)}, "
            f"unexpected {_preview(unexpected)}"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{path}: {key} has shape {tuple(value.shape)}, the "
                f"{model.config.name} backbone needs {tuple(expected[key].shape)}"
            )
    model.backbone.load_state_dict(state, strict=False)
    _LOG.info("loaded ImageNet backbone from %s (%d tensors)", path, len(state))


#: The tensors holding one row per class: the 1x1 convolutions of the head and aux heads.
_CLASS_ROWS = re.compile(r"^(?:head|aux_heads\.\d+)\.conv\.(?:weight|bias)$")


def head_row_sources(source_names: tuple[str, ...], label_set: LabelSet) -> list[tuple[int, ...]]:
    """For each class of ``label_set``: the rows of the source classes its head rows start from.

    A class's ``label_set.source_names`` entry wins (several names: their rows are merged);
    else the source class of the same name (case, ``_`` and spaces aside); else none (the
    class starts fresh).

    Raises:
        WeightsError: a ``source_names`` entry naming a class the source does not have.
    """
    index = {normalized_class_name(n): i for i, n in enumerate(source_names)}
    rows: list[tuple[int, ...]] = []
    for name in label_set.names:
        explicit = label_set.source_names.get(name)
        if explicit is None:
            match = index.get(normalized_class_name(name))
            rows.append(() if match is None else (match,))
            continue
        unknown = [n for n in explicit if normalized_class_name(n) not in index]
        if unknown:
            raise WeightsError(
                f"class set {label_set.name!r}: source_names of {name!r} names "
                f"{', '.join(map(repr, unknown))}, not a class of the starting weights "
                f"({', '.join(source_names)})"
            )
        rows.append(tuple(index[normalized_class_name(n)] for n in explicit))
    return rows


def class_transfer_table(
    source_names: tuple[str, ...], label_set: LabelSet
) -> list[tuple[str, str]]:
    """(class, where its head rows come from: ``road``, ``car + truck + bus``, or ``new``)."""
    rows = head_row_sources(source_names, label_set)
    return [
        (name, " + ".join(source_names[r] for r in src) if src else "new")
        for name, src in zip(label_set.names, rows, strict=True)
    ]


def _carry_rows(
    target: torch.Tensor, source: torch.Tensor, rows: list[tuple[int, ...]], bias: bool
) -> torch.Tensor:
    """``target`` (fresh) with each class's rows from ``source``.

    Merged rows: the mean weight and the log-sum-exp bias, so that the merged class scores
    about as the sum of its parts.
    """
    out = target.clone()
    for i, src in enumerate(rows):
        if not src:
            continue
        picked = source[list(src)]
        out[i] = torch.logsumexp(picked, 0) if bias and len(src) > 1 else picked.mean(0)
    return out


def init_from_weights(
    model: LadderSeg, path: str | Path, label_set: LabelSet | None = None
) -> tuple[list[str], list[str]]:
    """Starts ``model`` from a LadderSeg weights file (fine-tuning), tensor by tensor.

    Every tensor of ``model`` whose name and shape the file also has is copied. Tensors only
    the model has (e.g. the scale-selection projection, when a plain model's weights start a
    scale-selection model) keep their fresh initialization; tensors only the file has (the
    projection, when a scale-selection model starts its plain twin) are left unused. Both
    lists are logged and returned as ``(fresh, unused)``.

    With ``label_set`` (the classes being trained), the file may have other classes: the
    head rows (main and auxiliary heads) of each class come from the file's classes
    ``head_row_sources`` gives (by name, or the set's ``source_names``), the rest stay
    fresh; the log lists the carried-over and the new classes.

    Raises:
        WeightsError: unreadable or invalid file (as :func:`load_weights`), another number of
            classes without ``label_set``, a ``source_names`` entry the file lacks, a shared
            name with another shape, or fewer than half of the model's tensors found in the
            file (not a relative of this network).
    """
    path = Path(path)
    source, metadata = load_weights(path)
    tensors = source.state_dict()
    target = model.state_dict()
    if label_set is not None and label_set.num_classes != model.config.num_classes:
        raise WeightsError(
            f"class set {label_set.name!r} has {label_set.num_classes} classes, the network "
            f"{model.config.num_classes}"
        )
    same = label_set is None or tuple(label_set.names) == tuple(metadata.class_names)
    if label_set is None and metadata.model.num_classes != model.config.num_classes:
        raise WeightsError(
            f"{path}: {metadata.model.num_classes} classes ({metadata.label_set}), the network "
            f"being trained has {model.config.num_classes}"
        )
    rows: list[tuple[int, ...]] | None = None
    if not same:
        assert label_set is not None
        rows = head_row_sources(tuple(metadata.class_names), label_set)
        for key in [k for k in target if _CLASS_ROWS.match(k) and k in tensors]:
            tensors[key] = _carry_rows(target[key], tensors[key], rows, key.endswith("bias"))
    for key, value in target.items():
        if key in tensors and tuple(tensors[key].shape) != tuple(value.shape):
            raise WeightsError(
                f"{path}: {key} has shape {tuple(tensors[key].shape)}, model "
                f"{model.config.name!r} needs {tuple(value.shape)}"
            )
    shared = {k: v for k, v in tensors.items() if k in target}
    if 2 * len(shared) < len(target):
        raise WeightsError(
            f"{path}: only {len(shared)} of model {model.config.name!r}'s {len(target)} tensors "
            f"are in the file (model {metadata.model.name!r}): not a starting point for it"
        )
    fresh = sorted(set(target) - set(shared))
    unused = sorted(set(tensors) - set(target))
    model.load_state_dict(shared, strict=False)
    _LOG.info(
        "started from %s (%s): %d tensors copied, fresh %s, unused %s",
        path,
        metadata.model.name,
        len(shared),
        _preview(fresh),
        _preview(unused),
    )
    if rows is not None:
        assert label_set is not None
        table = class_transfer_table(tuple(metadata.class_names), label_set)
        carried = [f"{name} <- {src}" for name, src in table if src != "new"]
        new = [name for name, src in table if src == "new"]
        _LOG.info(
            "classes %s from %s (%s): head rows carried over for %d: %s; new (fresh rows) %d: %s",
            label_set.name,
            path.name,
            metadata.label_set,
            len(carried),
            ", ".join(carried) or "none",
            len(new),
            ", ".join(new) or "none",
        )
    return fresh, unused
