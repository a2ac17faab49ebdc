"""What the node does to one stereo pair, free of rclpy so the benchmark can run it bare.

``FrameProcessor`` turns decoded arrays into the output arrays (disparity by SGBM when
needed, segmentation, palette colours, overlay), computing only the outputs asked for.
``NewestSlot`` is the one-place mailbox between the subscription callbacks and the worker
thread: a new pair replaces an unprocessed one, so latency stays bounded and nothing queues.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cv2
import numpy as np

from ladderseg_ros.classes import LabelSet, palette_lut
from ladderseg_ros.stereo import SgbmConfig, compute_disparity, resize_disparity

T = TypeVar("T")


class NewestSlot(Generic[T]):
    """A single-item mailbox: ``put`` replaces what is waiting; ``get`` blocks with a timeout."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced an item nobody had taken (a dropped pair)."""
        with self._cond:
            dropped = self._item is not None
            self._item = item
            if dropped:
                self.replaced += 1
            self._cond.notify()
            return dropped

    def offer(self, item: T) -> bool:
        """Store ``item`` only if nothing waits (an older item must not replace a newer one)."""
        with self._cond:
            if self._item is not None:
                return False
            self._item = item
            self._cond.notify()
            return True

    def get(self, timeout: float) -> T | None:
        """Take the waiting item, waiting up to ``timeout`` seconds; None if nothing came."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


@dataclass(frozen=True)
class Wanted:
    """Which outputs someone listens to."""

    labels: bool = True
    color: bool = True
    overlay: bool = True
    confidence: bool = True
    disparity: bool = True

    @property
    def segmentation(self) -> bool:
        return self.labels or self.color or self.overlay or self.confidence


@dataclass
class FrameOutputs:
    """Output arrays at the left image's size; None where not requested or not available."""

    labels: np.ndarray | None = None
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None
    confidence: np.ndarray | None = None
    disparity: np.ndarray | None = None


def blend_overlay(rgb: np.ndarray, color: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * rgb + alpha * color``, rounded, uint8."""
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, color, alpha, 0.0)


class FrameProcessor:
    """Segment one frame and build the requested outputs.

    Args:
        segmenter: A ``ladderseg_ros.inference.Segmenter`` (or anything with its call API).
        label_set: Palette for ``color`` and ``overlay``.
        sgbm: SGBM settings used when disparity must be computed from the pair.
    """

    def __init__(self, segmenter: Any, label_set: LabelSet, sgbm: SgbmConfig) -> None:
        self.segmenter = segmenter
        self.sgbm = sgbm
        self.set_label_set(label_set)

    def set_label_set(self, label_set: LabelSet) -> None:
        self.label_set = label_set
        self._lut = palette_lut(label_set)

    def process(
        self,
        left: np.ndarray,
        right: np.ndarray | None = None,
        disparity: np.ndarray | None = None,
        baseline: float | None = None,
        wanted: Wanted = Wanted(),
        overlay_alpha: float = 0.5,
    ) -> FrameOutputs:
        """Run the pipeline on RGB ``left`` (and ``right`` or a received ``disparity``).

        Disparity is only computed when the model uses it or it is wanted as an output and
        ``right`` is given; a received disparity of another size is resized to ``left``'s.
        """
        height, width = left.shape[:2]
        uses_disparity = bool(self.segmenter.uses_disparity)
        need_disparity = uses_disparity and wanted.segmentation
        if disparity is None and right is not None and (need_disparity or wanted.disparity):
            disparity = compute_disparity(left, right, self.sgbm)
        elif disparity is not None and disparity.shape != (height, width):
            disparity = resize_disparity(disparity, (width, height))
        out = FrameOutputs(disparity=disparity if wanted.disparity else None)
        if not wanted.segmentation:
            return out
        result = self.segmenter(
            left,
            disparity if uses_disparity else None,
            baseline if uses_disparity else None,
        )
        labels = result.labels
        if labels.shape != (height, width):  # the Segmenter promises input size; be sure
            labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        color = self._lut[labels] if (wanted.color or wanted.overlay) else None
        out.labels = labels if wanted.labels else None
        out.color = color if wanted.color else None
        if wanted.overlay and color is not None:
            out.overlay = blend_overlay(left, color, overlay_alpha)
        if wanted.confidence:
            confidence = np.asarray(result.confidence, dtype=np.float32)
            if confidence.shape != (height, width):
                confidence = cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR)
            out.confidence = confidence
        return out
