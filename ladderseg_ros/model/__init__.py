"""Ladder-DenseNet with disparity-driven scale selection: configs, variants, builder.

Names are imported on first use (PEP 562), so that command-line modules in this package
(``cli.info``) load without torch and ``ladderseg --help`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "VARIANTS": "config",
    "ModelConfig": "config",
    "DenseNet": "densenet",
    "DenseNetSpec": "densenet",
    "ModelError": "errors",
    "LadderSeg": "network",
    "build_model": "network",
    "ScaleSelectionConfig": "scale_selection",
}
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

if TYPE_CHECKING:
    from ladderseg_ros.model.config import VARIANTS, ModelConfig
    from ladderseg_ros.model.densenet import DenseNet, DenseNetSpec
    from ladderseg_ros.model.errors import ModelError
    from ladderseg_ros.model.network import LadderSeg, build_model
    from ladderseg_ros.model.scale_selection import ScaleSelectionConfig


def __getattr__(name: str) -> object:
    """The exported ``name``, imported from its module on first use (PEP 562).

    Raises:
        AttributeError: ``name`` is not one of ``__all__``.
    """
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
