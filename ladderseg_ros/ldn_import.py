"""Import the authors' released LDN checkpoints (GitHub ivankreso/LDN, T-ITS 2020).

Their Cityscapes weights (``ldn121_weights_cityscapes_train.pt`` ...) are plain PyTorch state
dicts of ``models/ldn_semseg.py``. They are read with ``torch.load(weights_only=True)`` (never a
full unpickle), every tensor is renamed onto ``LadderSeg`` (whose ``ldn121/161/169`` are the
same networks), and the result is written as our safetensors + metadata: Cityscapes' 19
trainIds, the authors' normalization, and the scale they trained at (2048x1024, fx 2262.52 px).

Their names -> ours:

==============================================  ==========================================
``features.*`` (torchvision DenseNet names)     ``backbone.features.*``
``spp.spp.spp_bn.*``                            ``spp.bottleneck.*``
``spp.spp.spp{i}.*``                            ``spp.levels.{i}.*``
``spp.spp.spp_fuse.*``                          ``spp.fuse.*``
``upsample_layers.upsample_{i}.bottleneck.*``   ``upsample.{i}.skip.*``
``upsample_layers.upsample_{i}.blend_bt.*``     ``upsample.{i}.bottleneck.*``
``upsample_layers.upsample_{i}.blend_conv.*``   ``upsample.{i}.blend.*``
``upsample_layers.upsample_{i}.skip_bt.*``      ``upsample.{i}.residual_projection.*``
``upsample_layers.upsample_{i}.aux_logits.*``   ``aux_heads.{i}.*``
``logits.*``                                    ``head.*``
==============================================  ==========================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import torch

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.model import VARIANTS, LadderSeg, ModelConfig
from ladderseg_ros.weights import (
    WeightsError,
    WeightsMetadata,
    load_tensors,
    remap_torchvision_keys,
    save_weights,
)

AUTHORS_MEAN = (73.45286, 83.21195, 72.78044)
"""Per-channel RGB mean of the authors' Cityscapes normalization, on 0..255 pixels."""
AUTHORS_STD = (45.19961, 46.3659, 45.48506)
"""Per-channel RGB std of the authors' Cityscapes normalization, on 0..255 pixels."""
CITYSCAPES_SIZE = (2048, 1024)
CITYSCAPES_FOCAL = 2262.52
"""Cityscapes' left camera fx in pixels at 2048x1024 (``camera/*.json``)."""

_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^features\.", "backbone.features."),
        (r"^spp\.spp\.spp_bn\.", "spp.bottleneck."),
        (r"^spp\.spp\.spp_fuse\.", "spp.fuse."),
        (r"^spp\.spp\.spp(\d+)\.", r"spp.levels.\1."),
        (r"^upsample_layers\.upsample_(\d+)\.bottleneck\.", r"upsample.\1.skip."),
        (r"^upsample_layers\.upsample_(\d+)\.blend_bt\.", r"upsample.\1.bottleneck."),
        (r"^upsample_layers\.upsample_(\d+)\.blend_conv\.", r"upsample.\1.blend."),
        (r"^upsample_layers\.upsample_(\d+)\.skip_bt\.", r"upsample.\1.residual_projection."),
        (r"^upsample_layers\.upsample_(\d+)\.aux_logits\.", r"aux_heads.\1."),
        (r"^logits\.", "head."),
    )
)
_LAYER = re.compile(r"^features\.denseblock(\d)\.denselayer(\d+)\.conv2\.weight$")


class LdnImportError(LadderSegError, ValueError):
    """A checkpoint that is not one of the authors' LDN state dicts; names the key at fault."""


def our_name(key: str) -> str | None:
    """Our state-dict name of one of the authors' keys, or None when no rule applies."""
    for pattern, replacement in _RULES:
        if pattern.match(key):
            return pattern.sub(replacement, key, count=1)
    return None


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The authors' state dict, keys cleaned (``module.`` prefix, old ``norm.1`` names).

    Raises:
        LdnImportError: unreadable file, or not a dict of tensors.
    """
    path = Path(path)
    if path.is_dir():
        raise LdnImportError(f"{path}: is a directory, not a checkpoint")
    if not path.is_file():
        raise LdnImportError(f"{path}: checkpoint not found")
    try:
        state = load_tensors(path, "LDN checkpoint")
    except WeightsError as exc:
        raise LdnImportError(str(exc)) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise LdnImportError(f"{path}: not a state dict (a {type(state).__name__})")
    bad = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise LdnImportError(f"{path}: {bad!r} is not a tensor")
    # torchvision's cleaning: "module." (DataParallel) and pre-0.4 "norm.1" names; the
    # classifier it drops does not exist in LDN checkpoints.
    return remap_torchvision_keys(state)


def config_for(state: dict[str, torch.Tensor], path: Path) -> ModelConfig:
    """The ``ldn121/161/169`` config (classes, aux heads) that ``state`` describes.

    Raises:
        LdnImportError: naming the first key that fits no variant.
    """
    key = "logits.conv.weight"
    if key not in state or state[key].ndim != 4:
        raise LdnImportError(f"{path}: no {key}: not an LDN checkpoint")
    num_classes = int(state[key].shape[0])
    counts: dict[int, int] = {}
    for name in state:
        match = _LAYER.match(name)
        if match:
            block, layer = int(match.group(1)), int(match.group(2))
            counts[block] = max(counts.get(block, 0), layer)
    blocks = tuple(counts.get(b, 0) for b in (1, 2, 3, 4))
    stem = state.get("features.conv0.weight")
    for name in ("ldn121", "ldn161", "ldn169"):
        spec = VARIANTS[name].backbone
        if (
            blocks == spec.block_config
            and stem is not None
            and (stem.shape[0] == spec.num_init_features)
        ):
            aux = any(k.startswith("upsample_layers.") and ".aux_logits." in k for k in state)
            try:
                return dataclasses.replace(VARIANTS[name], num_classes=num_classes, aux_heads=aux)
            except ValueError as exc:
                raise LdnImportError(f"{path}: {key}: {exc}") from None
    raise LdnImportError(
        f"{path}: features.denseblock1..4 hold {blocks} layers with a "
        f"{None if stem is None else tuple(stem.shape)} stem: no LDN-121/161/169 has that shape"
    )


def convert(state: dict[str, torch.Tensor], path: Path) -> LadderSeg:
    """Builds the network ``state`` describes and loads every tensor into it, strictly.

    Raises:
        LdnImportError: naming the first key that has no place in the network, that the
            network misses, or whose shape differs.
    """
    config = config_for(state, path)
    model = LadderSeg(config)
    expected = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        ours = our_name(key)
        if ours is None or ours not in expected:
            raise LdnImportError(f"{path}: {key}: no such tensor in {config.name}")
        if tuple(value.shape) != tuple(expected[ours].shape):
            raise LdnImportError(
                f"{path}: {key}: shape {tuple(value.shape)}, {config.name} needs "
                f"{tuple(expected[ours].shape)}"
            )
        renamed[ours] = value
    for key, value in expected.items():
        # Checkpoints of PyTorch < 0.4.1 have no BatchNorm counters; they affect nothing.
        if key.endswith("num_batches_tracked") and key not in renamed:
            renamed[key] = torch.zeros_like(value)
    missing = [k for k in expected if k not in renamed]
    if missing:
        raise LdnImportError(f"{path}: no tensor for {missing[0]} ({len(missing)} missing)")
    bad = next(
        (k for k, v in renamed.items() if v.is_floating_point() and not v.isfinite().all()), None
    )
    if bad is not None:
        raise LdnImportError(f"{path}: non-finite values in {bad}")
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def import_ldn(checkpoint: str | Path, out: str | Path, overwrite: bool = False) -> WeightsMetadata:
    """Converts one of the authors' Cityscapes checkpoints to our weights file.

    Args:
        checkpoint: the authors' ``.pt`` state dict.
        out: the ``.safetensors`` file to write (atomically).
        overwrite: replace an existing ``out``.

    Returns:
        The metadata written.

    Raises:
        LdnImportError: the checkpoint is unreadable or of another shape (the key named).
        OutputExistsError: ``out`` exists and ``overwrite`` is False.
    """
    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint)
    model = convert(state, checkpoint)
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    try:
        metadata = WeightsMetadata.for_label_set(
            model.config,
            "cityscapes",
            mean=tuple(v / 255.0 for v in AUTHORS_MEAN),
            std=tuple(v / 255.0 for v in AUTHORS_STD),
            input_size=CITYSCAPES_SIZE,
            focal_length=CITYSCAPES_FOCAL,
            provenance={
                "source": "authors' released LDN weights (github.com/ivankreso/LDN, T-ITS 2020)",
                "checkpoint": checkpoint.name,
                "checkpoint_sha256": digest,
                "command": "ladderseg import-ldn",
                "dataset": "cityscapes",
            },
        )
    except WeightsError as exc:
        raise LdnImportError(f"{checkpoint}: {exc}") from None
    save_weights(out, model, metadata, overwrite=overwrite)
    return metadata
