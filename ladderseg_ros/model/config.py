"""Architecture configuration and the named variants (``ldn121``, ``ldn121_ss``, ...)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ladderseg_ros.model.densenet import DenseNetSpec
from ladderseg_ros.model.errors import ModelError
from ladderseg_ros.model.scale_selection import ScaleSelectionConfig


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a LadderSeg network (stored in weights metadata).

    Attributes:
        name: variant name, informative only.
        backbone: DenseNet shape and split point.
        spp_bottleneck: channels of the SPP input projection.
        spp_level_width: channels of each SPP grid level.
        spp_grids: rows of the SPP grids (columns follow the aspect ratio).
        up_width: channels of the ladder up-path.
        num_classes: output classes.
        scale_selection: disparity multiplexer, or None for the plain ladder network.
    """

    name: str = "custom"
    backbone: DenseNetSpec = field(default_factory=DenseNetSpec)
    spp_bottleneck: int = 512
    spp_level_width: int = 128
    spp_grids: tuple[int, ...] = (8, 4, 2, 1)
    up_width: int = 128
    num_classes: int = 19
    scale_selection: ScaleSelectionConfig | None = None

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ModelError(f"num_classes must be positive, got {self.num_classes}")
        if self.scale_selection is not None:
            num_outputs = len(self.backbone.block_config) + (self.backbone.split_block is not None)
            if not 0 <= self.scale_selection.tap < num_outputs - 1:
                raise ModelError(
                    f"scale_selection.tap {self.scale_selection.tap} must name a skip level "
                    f"0..{num_outputs - 2}"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of ``to_dict``; raises ModelError (a ValueError) or TypeError when malformed."""
        data = dict(data)
        backbone = dict(data.pop("backbone", {}))
        backbone["block_config"] = tuple(backbone.get("block_config", (6, 12, 24, 16)))
        ss = data.pop("scale_selection", None)
        if ss is not None:
            ss = dict(ss)
            ss["reference_sizes"] = tuple(float(s) for s in ss.get("reference_sizes", (1.0,)))
            ss = ScaleSelectionConfig(**ss)
        if "spp_grids" in data:
            data["spp_grids"] = tuple(data["spp_grids"])
        return cls(backbone=DenseNetSpec(**backbone), scale_selection=ss, **data)

    @property
    def uses_disparity(self) -> bool:
        return self.scale_selection is not None


def _with_ss(config: ModelConfig, name: str, ss: ScaleSelectionConfig) -> ModelConfig:
    return dataclasses.replace(config, name=name, scale_selection=ss)


_LDN121 = ModelConfig(name="ldn121", backbone=DenseNetSpec(32, (6, 12, 24, 16), 64))
_TINY = ModelConfig(
    name="ldn_tiny",
    backbone=DenseNetSpec(8, (2, 2, 2, 2), 16, bn_size=2, split_layer=1),
    spp_bottleneck=32,
    spp_level_width=16,
    up_width=32,
)
_DEMO = ModelConfig(
    name="ldn_demo",
    backbone=DenseNetSpec(16, (3, 6, 12, 8), 32, bn_size=4),
    spp_bottleneck=128,
    spp_level_width=32,
    up_width=64,
)

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
}
