"""Architecture configuration and the named variants (``ldn121``, ``ldn121_ss``, ...)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ladderseg_ros.model.densenet import DenseNetSpec
from ladderseg_ros.model.errors import ModelError, check_int
from ladderseg_ros.model.scale_selection import ScaleSelectionConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ladderseg_ros.json_types import JsonObject, JsonValue


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a LadderSeg network (stored in weights metadata).

    The defaults are the authors' LDN (Krešo, Krapac, Šegvić, T-ITS 2020; released code
    GitHub ivankreso/LDN, ``models/ldn_semseg.py``): DenseNet-121 with dense block 3 split,
    SPP 1024 -> 512 -> 4 x 128 -> 512, up-path widths (256, 256, 128, 128) with a 128-wide
    bottleneck before each 3x3 blend and residual steps.

    Attributes:
        name: variant name, informative only.
        backbone: DenseNet shape and split point.
        spp_bottleneck: channels of the SPP input projection.
        spp_level_width: channels of each SPP grid level.
        spp_grids: rows of the SPP grids (columns follow the aspect ratio).
        spp_width: channels of the SPP output (the up-path's first incoming width).
        spp_clamp_grid: clamp SPP grids to the feature map size (the authors do not).
        up_widths: output channels of each ladder step, coarse to fine (one per skip level).
        up_blend_width: BN-ReLU-1x1 to this width before a step's 3x3 blend when the incoming
            width is larger (None: no bottleneck).
        up_residual: add each step's upsampled input to its output.
        aux_heads: per-level auxiliary classifiers (training only; a file may omit them).
        num_classes: output classes.
        scale_selection: disparity multiplexer, or None for the plain ladder network.

    Raises:
        ModelError: a value out of range, ``up_widths`` not one per skip level, or a
            scale-selection tap that names no skip level.
    """

    name: str = "custom"
    backbone: DenseNetSpec = field(default_factory=DenseNetSpec)
    spp_bottleneck: int = 512
    spp_level_width: int = 128
    spp_grids: tuple[int, ...] = (8, 4, 2, 1)
    spp_width: int = 512
    spp_clamp_grid: bool = False
    up_widths: tuple[int, ...] = (256, 256, 128, 128)
    up_blend_width: int | None = 128
    up_residual: bool = True
    aux_heads: bool = True
    num_classes: int = 19
    scale_selection: ScaleSelectionConfig | None = None

    def __post_init__(self) -> None:
        check_int("num_classes", self.num_classes, 1, 255)
        check_int("spp_bottleneck", self.spp_bottleneck, 1, 4096)
        check_int("spp_level_width", self.spp_level_width, 1, 2048)
        check_int("spp_width", self.spp_width, 1, 4096)
        if not self.spp_grids:
            raise ModelError("spp_grids must hold at least one grid")
        for grid in self.spp_grids:
            check_int("spp_grids", grid, 1, 64)
        for width in self.up_widths:
            check_int("up_widths", width, 1, 4096)
        if self.up_blend_width is not None:
            check_int("up_blend_width", self.up_blend_width, 1, 4096)
        if len(self.up_widths) != self.num_skips:
            raise ModelError(
                f"up_widths needs one width per skip level ({self.num_skips}), got {self.up_widths}"
            )
        ss = self.scale_selection
        if ss is not None and not 0 <= ss.tap < self.num_skips:
            raise ModelError(
                f"scale_selection.tap {ss.tap} must name a skip level 0..{self.num_skips - 1}"
            )

    @property
    def num_skips(self) -> int:
        """Skip levels of the down-path: one per stride except the deepest."""
        return len(self.backbone.block_config) - 1 + (self.backbone.split_block is not None)

    def step_in_widths(self) -> list[int]:
        """Incoming width of each ladder step, coarse to fine."""
        return [self.spp_width, *self.up_widths[:-1]]

    def to_dict(self) -> JsonObject:
        """Plain JSON-serializable form: field names to values, nested configs as objects."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, JsonValue]) -> ModelConfig:
        """Inverse of ``to_dict``.

        A config written before the authors' design became the default (it has ``up_width``)
        is read as the lean design it describes.

        Raises:
            ModelError: a field's value is out of range (a ``ValueError`` too).
            TypeError: an unknown field, or a nested config that is not an object.
        """
        data = dict(data)
        backbone = dict(data.pop("backbone", {}))
        if "up_width" in data:
            data.update(_lean_fields(data.pop("up_width"), backbone))
        backbone["block_config"] = tuple(backbone.get("block_config", (6, 12, 24, 16)))
        ss = data.pop("scale_selection", None)
        if ss is not None:
            ss = dict(ss)
            ss["reference_sizes"] = tuple(ss.get("reference_sizes", (1.0,)))
            ss = ScaleSelectionConfig(**ss)
        for key in ("spp_grids", "up_widths"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(backbone=DenseNetSpec(**backbone), scale_selection=ss, **data)

    @property
    def uses_disparity(self) -> bool:
        """True when the network selects scales: it needs disparity and baseline."""
        return self.scale_selection is not None


def _lean_fields(width: int, backbone: dict[str, object]) -> dict[str, object]:
    """ModelConfig fields of the lean design (every step ``width`` wide, no residual).

    ``backbone`` (a DenseNetSpec dict) is completed in place with that design's down-path:
    dense block 4 split, torchvision's stem pool and ``norm5``.
    """
    backbone.setdefault("split_block", 4)
    backbone.setdefault("stem_pool", "max3")
    backbone.setdefault("final_norm", True)
    split = backbone["split_block"] is not None
    steps = len(backbone.get("block_config", (6, 12, 24, 16))) - 1 + split
    return {
        "spp_width": width,
        "spp_clamp_grid": True,
        "up_widths": (width,) * steps,
        "up_blend_width": None,
        "up_residual": False,
    }


def lean(config: ModelConfig, name: str, width: int) -> ModelConfig:
    """``config`` with the lean ladder of the first version of this package.

    Every up-path step ``width`` wide, no bottleneck or residual, dense block 4 split,
    torchvision's stem pool and ``norm5``, SPP grids clamped to the feature map.
    """
    backbone: dict[str, object] = {"split_block": 4}
    fields = _lean_fields(width, backbone)
    spec = dataclasses.replace(config.backbone, **backbone)
    return dataclasses.replace(config, name=name, backbone=spec, **fields)


def _with_ss(config: ModelConfig, name: str, ss: ScaleSelectionConfig) -> ModelConfig:
    return dataclasses.replace(config, name=name, scale_selection=ss)


_LDN121 = ModelConfig(name="ldn121", backbone=DenseNetSpec(32, (6, 12, 24, 16), 64))
_TINY = ModelConfig(
    name="ldn_tiny",
    backbone=DenseNetSpec(8, (2, 2, 2, 2), 16, bn_size=2, split_layer=1),
    spp_bottleneck=32,
    spp_level_width=16,
    spp_width=32,
    up_widths=(32, 32, 16, 16),
    up_blend_width=16,
)
_DEMO = ModelConfig(
    name="ldn_demo",
    backbone=DenseNetSpec(16, (3, 6, 12, 8), 32, bn_size=4),
    spp_bottleneck=128,
    spp_level_width=32,
    spp_width=128,
    up_widths=(96, 96, 64, 64),
    up_blend_width=64,
)
_DEMO_LEAN = lean(_DEMO, "ldn_demo_lean", 64)

VARIANTS: dict[str, ModelConfig] = {
    "ldn121": _LDN121,
    "ldn161": ModelConfig(name="ldn161", backbone=DenseNetSpec(48, (6, 12, 36, 24), 96)),
    "ldn169": ModelConfig(name="ldn169", backbone=DenseNetSpec(32, (6, 12, 32, 32), 64)),
    # Front-end = stem + DB1 + DB2 (stride 8); 4 levels x 1.3 instead of the paper's 8 for speed.
    "ldn121_ss": _with_ss(_LDN121, "ldn121_ss", ScaleSelectionConfig(receptive_field=128.0)),
    "ldn_tiny": _TINY,
    "ldn_tiny_ss": _with_ss(
        _TINY, "ldn_tiny_ss", ScaleSelectionConfig(num_levels=3, receptive_field=32.0)
    ),
    "ldn_demo": _DEMO,
    "ldn_demo_ss": _with_ss(
        _DEMO, "ldn_demo_ss", ScaleSelectionConfig(num_levels=3, receptive_field=96.0)
    ),
    # The design of the first demo weights: kept so that files trained on it keep loading.
    "ldn_demo_lean": _DEMO_LEAN,
    "ldn_demo_lean_ss": _with_ss(
        _DEMO_LEAN, "ldn_demo_lean_ss", ScaleSelectionConfig(num_levels=3, receptive_field=96.0)
    ),
}
