"""LadderSeg: DenseNet down-path, SPP context, ladder up-path, optional scale selection."""

from __future__ import annotations

import dataclasses
from typing import TypedDict

import torch
import torch.nn.functional as F
from torch import nn

from ladderseg_ros.model.config import VARIANTS, ModelConfig
from ladderseg_ros.model.densenet import DenseNet
from ladderseg_ros.model.errors import ModelError
from ladderseg_ros.model.ladder import BNReLUConv, LadderUpsample, SpatialPyramidPooling
from ladderseg_ros.model.scale_selection import ScaleSelection


class _Logits(TypedDict):
    out: torch.Tensor


class LadderSegOutput(_Logits, total=False):
    """What ``LadderSeg.forward`` returns (torchvision's segmentation models' convention).

    Attributes:
        out: (N, C, H, W) logits at the input size.
        aux: per up-path level, coarsest first, (N, C, ceil(H/s), ceil(W/s)) logits at its
            stride s; present in training mode when the model has auxiliary heads.
    """

    aux: list[torch.Tensor]


class LadderSeg(nn.Module):
    """Ladder-style DenseNet for semantic segmentation (Krešo, Krapac, Šegvić).

    The architecture follows the authors' released LDN code by default (see ``ModelConfig``).
    ``forward`` returns ``{'out': logits at the input size}`` and, in training mode with
    ``aux_heads``, also ``'aux'``: logits of every up-path level, coarsest first, each covering
    the input at ceil(H/s) x ceil(W/s) for its stride s. Any H, W works: the input is padded
    (zeros, bottom and right) to a multiple of the output stride and the result cropped back.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = DenseNet(config.backbone)
        channels = self.backbone.out_channels
        self.spp = SpatialPyramidPooling(
            channels[-1],
            config.spp_width,
            config.spp_bottleneck,
            config.spp_level_width,
            config.spp_grids,
            config.spp_clamp_grid,
        )
        in_widths = config.step_in_widths()
        # Coarse to fine: one ladder step per skip level.
        self.upsample = nn.ModuleList(
            LadderUpsample(
                channels[skip], in_width, out_width, config.up_blend_width, config.up_residual
            )
            for skip, in_width, out_width in zip(
                reversed(range(len(channels) - 1)), in_widths, config.up_widths, strict=True
            )
        )
        self.head = BNReLUConv(config.up_widths[-1], config.num_classes, 1, bias=True)
        # Each auxiliary head reads a step's input, coarsest first (the SPP output, ...).
        self.aux_heads = (
            nn.ModuleList(BNReLUConv(w, config.num_classes, 1, bias=True) for w in in_widths)
            if config.aux_heads
            else None
        )
        ss_config = config.scale_selection
        if ss_config is not None:
            # The multiplexed features join the step that merges the tap's skip level.
            step = len(channels) - 2 - ss_config.tap
            self.scale_selection: ScaleSelection | None = ScaleSelection(
                ss_config, channels[ss_config.tap], in_widths[step]
            )
        else:
            self.scale_selection = None

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
    ) -> LadderSegOutput:
        """Segments a batch.

        Args:
            image: (N, 3, H, W) normalized images.
            disparity: (N, 1, H, W) disparity in pixels of ``image`` (0 = invalid); required
                when ``uses_disparity``.
            baseline: (N,) stereo baseline in metres; required when ``uses_disparity``.

        Returns:
            ``{'out': (N, C, H, W)}`` plus ``'aux'`` (list of (N, C, h, w)) in training mode
            when the model has auxiliary heads (``LadderSegOutput``).

        Raises:
            ModelError: disparity or baseline missing for a model that selects scales.
        """
        ss = self.scale_selection
        if ss is not None and (disparity is None or baseline is None):
            raise ModelError(f"{self.config.name} selects scales: pass disparity and baseline")
        h, w = image.shape[-2:]
        stride = self.output_stride
        pad_h = (stride - h % stride) % stride
        pad_w = (stride - w % stride) % stride
        x = F.pad(image, (0, pad_w, 0, pad_h))
        features = self.backbone(x, ceil_mode=False)  # x is padded: every pooled map is even
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
        result: LadderSegOutput = {"out": logits[:, :, :h, :w]}
        if self.training and self.aux_heads is not None:
            # aux[:-1] are the levels before the last ladder step: the SPP output at the
            # deepest stride, then one per skip level except the finest.
            strides = [stride] + [self.backbone.strides[i] for i in skips]
            result["aux"] = [
                head(a)[:, :, : -(-h // s), : -(-w // s)]
                for head, a, s in zip(self.aux_heads, aux[:-1], strides[:-1], strict=True)
            ]
        return result


def build_model(
    name_or_config: str | ModelConfig, num_classes: int = 19, **overrides: object
) -> LadderSeg:
    """Builds a LadderSeg from a variant name or a config.

    Args:
        name_or_config: a key of ``VARIANTS`` or a ``ModelConfig``.
        num_classes: output classes.
        overrides: ``ModelConfig`` fields to replace (e.g. ``scale_selection=None``); each
            value is validated by ``ModelConfig``.

    Returns:
        A freshly initialized network in training mode.

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
