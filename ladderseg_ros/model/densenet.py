"""DenseNet down-path whose parameter names match torchvision's, with an optional split block.

The names (``features.denseblock1.denselayer1.norm1.weight`` ...) are a public contract: they
let ImageNet checkpoints load by name. Splitting one dense block with an extra 2x2 average pool
(Krešo, Krapac, Šegvić, T-ITS 2020) takes the deepest features to 1/64 for a larger receptive
field. The defaults follow the authors' released code (GitHub ivankreso/LDN): dense block 3 is
split after half its layers, the stem pool is a 2x2/2 max pool, and the deepest features are
neither normalized (no ``norm5``) nor ReLU'd before the context module.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ladderseg_ros.model.errors import ModelError, check_int


def halve(x: torch.Tensor, ceil_mode: bool) -> torch.Tensor:
    """2x2/2 average pool of (N, C, H, W) ``x``; ``ceil_mode`` as PyTorch's ``avg_pool2d``.

    With ``ceil_mode`` an odd last row or column is its own window (averaged alone). It is
    computed as the edge-replicated map pooled without ceil mode, the same numbers (up to
    float rounding): ONNX Runtime keeps that pool in its blocked (NCHWc) layout, and with it
    the batch norms, ReLUs and concatenations around it, where it converted them back and
    forth around a ceil-mode pool (the scale-selection pyramid's odd-sized levels).
    """
    if ceil_mode:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


STEM_POOLS = ("max2", "max3")
"""Stem pools: 2x2/2 (the authors' LDN) and torchvision's 3x3/2 with padding 1."""


@dataclass(frozen=True)
class DenseNetSpec:
    """Shape of a DenseNet down-path.

    Attributes:
        growth_rate: channels each dense layer adds.
        block_config: number of layers in each of the four dense blocks.
        num_init_features: channels of the stem convolution.
        bn_size: bottleneck width factor of the 1x1 convolution in a dense layer.
        split_block: 1-based dense block split by an extra 2x2 average pool, or None.
        split_layer: layers before the split inside that block (None: half of the block).
        stem_pool: ``"max2"`` (2x2 max pool, stride 2: the authors' LDN) or ``"max3"``
            (torchvision's 3x3 max pool, stride 2, padding 1).
        final_norm: apply ``norm5`` and ReLU to the deepest features (torchvision's classifier
            path; the authors' LDN does not).
        checkpointing: recompute dense layers in the backward pass to save memory.

    Raises:
        ModelError: a value out of range or a split that leaves no layer on one side.
    """

    growth_rate: int = 32
    block_config: tuple[int, ...] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4
    split_block: int | None = 3
    split_layer: int | None = None
    stem_pool: str = "max2"
    final_norm: bool = False
    checkpointing: bool = False

    def __post_init__(self) -> None:
        if len(self.block_config) != 4:
            raise ModelError(f"block_config must hold 4 layer counts, got {self.block_config}")
        for count in self.block_config:
            check_int("block_config", count, 1, 64)
        check_int("growth_rate", self.growth_rate, 1, 128)
        check_int("num_init_features", self.num_init_features, 1, 512)
        check_int("bn_size", self.bn_size, 1, 8)
        if self.split_layer is not None:
            check_int("split_layer", self.split_layer, 1, 64)
        if self.stem_pool not in STEM_POOLS:
            raise ModelError(f"stem_pool must be one of {STEM_POOLS}, got {self.stem_pool!r}")
        if self.split_block is not None:
            if not 1 <= self.split_block <= 4:
                raise ModelError(f"split_block must be 1..4 or None, got {self.split_block}")
            if not 1 <= self.split_position < self.block_config[self.split_block - 1]:
                raise ModelError(
                    f"split_layer {self.split_layer} must leave layers on both sides of the "
                    f"split of block {self.split_block} ({self.block_config})"
                )

    @property
    def split_position(self) -> int:
        """Number of layers before the extra pool inside the split block."""
        if self.split_block is None:
            return 0
        if self.split_layer is not None:
            return self.split_layer
        return self.block_config[self.split_block - 1] // 2


class _DenseLayer(nn.Module):
    """BN-ReLU-1x1 bottleneck then BN-ReLU-3x3 producing ``growth_rate`` new channels."""

    def __init__(
        self, in_channels: int, growth_rate: int, bn_size: int, checkpointing: bool
    ) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.checkpointing = checkpointing

    def _bottleneck(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, 1)
        return self.conv1(self.relu1(self.norm1(x)))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.checkpointing and self.training and any(t.requires_grad for t in inputs):
            # The concatenation is the memory hog: recompute it instead of storing it.
            hidden = checkpoint(self._bottleneck, *inputs, use_reentrant=False)
        else:
            hidden = self._bottleneck(*inputs)
        return self.conv2(self.relu2(self.norm2(hidden)))


class _DenseBlock(nn.ModuleDict):
    """Dense layers named ``denselayerK``; an optional pool after ``split`` layers."""

    def __init__(self, num_layers: int, in_channels: int, spec: DenseNetSpec) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(
                in_channels + i * spec.growth_rate,
                spec.growth_rate,
                spec.bn_size,
                spec.checkpointing,
            )
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(
        self, x: torch.Tensor, split: int = 0, ceil_mode: bool = True
    ) -> list[torch.Tensor]:
        """Returns the block's output, preceded by the features before the pool when split.

        ``ceil_mode`` is the split pool's (``DenseNet.forward``).

        Training passes each layer the list of earlier outputs, concatenated inside the
        layer (recomputed under checkpointing instead of stored). Inference keeps one
        running concatenation, extended by each new output: the same numbers, and in an
        int8 (QDQ) ONNX graph each layer's output is dequantized once instead of once per
        later layer of the block.
        """
        if self.training:
            return self._forward_list(x, split, ceil_mode)
        outputs: list[torch.Tensor] = []
        for i, layer in enumerate(self.values()):
            if split and i == split:
                outputs.append(x)
                x = halve(x, ceil_mode)
            x = torch.cat([x, layer([x])], 1)
        outputs.append(x)
        return outputs

    def _forward_list(self, x: torch.Tensor, split: int, ceil_mode: bool) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = []
        features = [x]
        for i, layer in enumerate(self.values()):
            if split and i == split:
                before = torch.cat(features, 1)
                outputs.append(before)
                features = [halve(before, ceil_mode)]
            features.append(layer(features))
        outputs.append(torch.cat(features, 1))
        return outputs


class _Transition(nn.Module):
    """BN-ReLU-1x1 halving the channels, then 2x2 average pool (``ceil_mode`` as given).

    Computed with the pool before the 1x1 convolution: both are linear, so the result is the
    same (up to float rounding) for a quarter of the convolution's multiply-adds (in
    ``ldn121`` at 1024x448, 5.6 -> 1.4 of its GFLOPs).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor, ceil_mode: bool = True) -> torch.Tensor:
        """(N, in, H, W) -> (N, out, H/2, W/2), rounded up with ``ceil_mode``, else down."""
        return self.conv(halve(self.relu(self.norm(x)), ceil_mode))


class DenseNet(nn.Module):
    """DenseNet feature extractor returning the features at every output stride.

    ``forward`` returns one tensor per stride (4, 8, 16, 32 and 64 when a block is split), each
    taken before the pooling that leaves that stride; with ``final_norm`` the last one is
    normalized by ``norm5`` and ReLU'd, as in torchvision's classifier path.
    """

    def __init__(self, spec: DenseNetSpec) -> None:
        super().__init__()
        self.spec = spec
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(3, spec.num_init_features, 7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(spec.num_init_features),
            relu0=nn.ReLU(inplace=True),
            pool0=(
                nn.MaxPool2d(2, stride=2)
                if spec.stem_pool == "max2"
                else nn.MaxPool2d(3, stride=2, padding=1)
            ),
        )
        channels = spec.num_init_features
        self.out_channels: list[int] = []
        for b, num_layers in enumerate(spec.block_config, start=1):
            if b > 1:
                layers[f"transition{b - 1}"] = _Transition(channels, channels // 2)
                channels //= 2
            layers[f"denseblock{b}"] = _DenseBlock(num_layers, channels, spec)
            if b == spec.split_block:
                self.out_channels.append(channels + spec.split_position * spec.growth_rate)
            channels += num_layers * spec.growth_rate
            self.out_channels.append(channels)
        if spec.final_norm:
            layers["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(layers)

    @property
    def strides(self) -> list[int]:
        """Output stride of each returned feature map."""
        return [4 * 2**i for i in range(len(self.out_channels))]

    def forward(
        self, x: torch.Tensor, num_outputs: int | None = None, ceil_mode: bool = True
    ) -> list[torch.Tensor]:
        """Runs the down-path; stops once ``num_outputs`` feature maps are computed.

        Args:
            x: normalized images (N, 3, H, W).
            num_outputs: how many strides to compute (None: all; with ``final_norm`` the last
                gets ``norm5`` and ReLU).
            ceil_mode: the average pools' (PyTorch's ``ceil_mode``, see ``halve``): True
                keeps a map's odd last row and column as a window of its own. It changes
                nothing on maps of even size, such as ``LadderSeg``'s padded input, which
                passes False and so needs no edge padding. ONNX Runtime keeps a ceil-mode
                AveragePool out of its blocked (NCHWc) layout, and every batch norm, ReLU and
                concatenation near it: ``ldn121``'s kernels at 1024x448 took 825 ms instead
                of 741 with them (ONNX Runtime's profiler, 2 threads, same run).

        Returns:
            Feature maps, finest first: (N, ``out_channels[i]``, about H/s, W/s) at stride
            s = ``strides[i]``.
        """
        wanted = len(self.out_channels) if num_outputs is None else num_outputs
        f = self.features
        x = f.pool0(f.relu0(f.norm0(f.conv0(x))))
        outputs: list[torch.Tensor] = []
        for b in range(1, len(self.spec.block_config) + 1):
            if b > 1:
                x = f.get_submodule(f"transition{b - 1}")(outputs[-1], ceil_mode)
            block: _DenseBlock = f.get_submodule(f"denseblock{b}")
            split = self.spec.split_position if b == self.spec.split_block else 0
            outputs.extend(block(x, split, ceil_mode))
            if len(outputs) >= wanted:
                break
        outputs = outputs[:wanted]
        if self.spec.final_norm and len(outputs) == len(self.out_channels):
            outputs[-1] = F.relu(f.norm5(outputs[-1]))
        return outputs
