"""Inference: the Segmenter (torch or ONNX Runtime backend) and ONNX export."""

from __future__ import annotations

from ladderseg_ros.inference.segmenter import (
    SegmentationResult,
    Segmenter,
    SegmenterError,
)

__all__ = ["SegmentationResult", "Segmenter", "SegmenterError"]
