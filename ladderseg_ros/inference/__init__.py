"""Inference: the Segmenter (torch or ONNX Runtime backend) and ONNX export.

Names are imported on first use (PEP 562), so that the command-line modules of this package
load without torch and ``ladderseg --help`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["SegmentationResult", "Segmenter", "SegmenterError"]

if TYPE_CHECKING:
    from ladderseg_ros.inference.segmenter import SegmentationResult, Segmenter, SegmenterError


def __getattr__(name: str) -> object:
    """The exported ``name``, imported from ``segmenter`` on first use (PEP 562).

    Raises:
        AttributeError: ``name`` is not one of ``__all__``.
    """
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ladderseg_ros.inference import segmenter

    return getattr(segmenter, name)
