"""Ladder-DenseNet with disparity-driven scale selection: configs, variants, builder."""

from __future__ import annotations

from ladderseg_ros.model.config import VARIANTS, ModelConfig
from ladderseg_ros.model.densenet import DenseNet, DenseNetSpec
from ladderseg_ros.model.errors import ModelError
from ladderseg_ros.model.network import LadderSeg, build_model
from ladderseg_ros.model.scale_selection import ScaleSelectionConfig

__all__ = [
    "VARIANTS",
    "DenseNet",
    "DenseNetSpec",
    "LadderSeg",
    "ModelConfig",
    "ModelError",
    "ScaleSelectionConfig",
    "build_model",
]
