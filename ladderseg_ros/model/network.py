"""LadderSeg: DenseNet down-path, SPP context, ladder up-path, optional scale selection."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ladderseg_ros.model.config import VARIANTS, ModelConfig
from ladderseg_ros.model.densenet import DenseNet
from ladderseg_ros.model.errors import ModelError
from ladderseg_ros.model.ladder import BNReLUConv, LadderUpsample, SpatialPyramidPooling
from ladderseg_ros.model.scale_selection import ScaleSelection


class LadderSeg(nn.Module):
    """Ladder-style DenseNet for semantic segmentation (Krešo, Krapac, Šegvić).

    ``forward`` returns ``{'out': logits at the input size}`` and, in training mode, also
    ``'aux'``: logits of every up-path level, coarsest first, each covering the input at
    ceil(H/s) x ceil(W/s) for its stride s. Any H, W works: the input is padded to a multiple
    of the output stride and the result cropped back.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.backbone = DenseNet(config.backbone)
        channels = self.backbone.out_channels
        width = config.up_width
        self.spp = SpatialPyramidPooling(
            channels[-1], width, config.spp_bottleneck, config.spp_level_width, config.spp_grids
        )
        # Coarse to fine: one ladder step per skip level.
        self.upsample = nn.ModuleList(
            LadderUpsample(channels[i], width, width) for i in reversed(range(len(channels) - 1))
        )
        self.head = BNReLUConv(width, config.num_classes, 1, bias=True)
        self.aux_heads = nn.ModuleList(
            BNReLUConv(width, config.num_classes, 1, bias=True) for _ in range(len(channels) - 1)
        )
        self.scale_selection = (
            ScaleSelection(config.scale_selection, channels[config.scale_selection.tap], width)
            if config.scale_selection is not None
            else None
        )

    @property
    def uses_disparity(self) -> bool:
        """True when forward needs disparity and baseline."""
        return self.scale_selection is not None

    @property
    def output_stride(self) -> int:
        """Subsampling of the deepest features (64 with a split block, else 32)."""
        return self.backbone.strides[-1]

    def forward(
        self,
        image: torch.Tensor,
        disparity: torch.Tensor | None = None,
        baseline: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """Segments a batch.

        Args:
            image: (N, 3, H, W) normalized images.
            disparity: (N, 1, H, W) disparity in pixels of ``image`` (0 = invalid); required
                when ``uses_disparity``.
            baseline: (N,) stereo baseline in metres; required when ``uses_disparity``.

        Returns:
            ``{'out': (N, C, H, W)}`` plus ``'aux'`` (list of (N, C, h, w)) in training mode.
        """
        ss = self.scale_selection
        if ss is not None and (disparity is None or baseline is None):
            raise ModelError(f"{self.config.name} selects scales: pass disparity and baseline")
        h, w = image.shape[-2:]
        stride = self.output_stride
        pad_h = (stride - h % stride) % stride
        pad_w = (stride - w % stride) % stride
        x = F.pad(image, (0, pad_w, 0, pad_h))
        features = self.backbone(x)
        extra = None
        if ss is not None and disparity is not None and baseline is not None:
            tap = ss.config.tap
            levels = [features[tap]]
            levels += [self.backbone(p, tap + 1)[tap] for p in ss.pyramid(x)]
            disparity = F.pad(disparity.to(x.dtype), (0, pad_w, 0, pad_h))
            extra = ss(levels, disparity, baseline.to(x.dtype))

        y = self.spp(features[-1])
        aux = [y]
        skips = list(reversed(range(len(features) - 1)))
        for i, up in zip(skips, self.upsample, strict=True):
            y = up(y, features[i], extra if ss is not None and i == ss.config.tap else None)
            aux.append(y)
        logits = F.interpolate(
            self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        result: dict[str, Any] = {"out": logits[:, :, :h, :w]}
        if self.training:
            # aux[:-1] are the levels before the last ladder step: the SPP output at the
            # deepest stride, then one per skip level except the finest.
            strides = [stride] + [self.backbone.strides[i] for i in skips]
            result["aux"] = [
                head(a)[:, :, : -(-h // s), : -(-w // s)]
                for head, a, s in zip(self.aux_heads, aux[:-1], strides[:-1], strict=True)
            ]
        return result


def build_model(
    name_or_config: str | ModelConfig, num_classes: int = 19, **overrides: Any
) -> LadderSeg:
    """Builds a LadderSeg from a variant name or a config.

    Args:
        name_or_config: a key of ``VARIANTS`` or a ``ModelConfig``.
        num_classes: output classes.
        overrides: ``ModelConfig`` fields to replace (e.g. ``scale_selection=None``).

    Raises:
        ModelError: unknown variant name or an invalid setting.
    """
    if isinstance(name_or_config, str):
        if name_or_config not in VARIANTS:
            raise ModelError(
                f"unknown model variant {name_or_config!r}; known: {', '.join(VARIANTS)}"
            )
        config = VARIANTS[name_or_config]
    else:
        config = name_or_config
    try:
        config = dataclasses.replace(config, num_classes=num_classes, **overrides)
    except TypeError as exc:  # an override that is not a ModelConfig field
        raise ModelError(f"{config.name}: bad override ({exc})") from exc
    return LadderSeg(config)
