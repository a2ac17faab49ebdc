"""``FrameProcessor``: one ``StereoFrame`` in, the node's output arrays out.

Disparity by SGBM when the frame brings a right image and something needs it, the
Segmenter (network at its trained scale), palette colours, overlay, confidence, class
groups and the semantic point cloud; only the outputs asked for are computed. The live node
and ``segment-bag`` both run this one object per frame (through ``io.pipeline``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from ladderseg_ros.classes import LabelSet, apply_palette, palette_lut
from ladderseg_ros.frames.frame import (
    SGBM_DELTA_D,
    FrameNote,
    FrameOutputs,
    FrameResult,
    StereoFrame,
    Wanted,
)
from ladderseg_ros.groups import ClassGroups
from ladderseg_ros.inference.backends import resize_nearest
from ladderseg_ros.points import PointsConfig, PointsError, StereoGeometry, semantic_points
from ladderseg_ros.stereo import (
    SgbmConfig,
    compute_disparity,
    fitted_num_disparities,
    network_read_size,
    resize_disparity,
)


class Segmentation(Protocol):
    """What a Segmenter returns: (H, W) uint8 ``labels`` and float32 ``confidence``.

    ``network_labels``: (h, w) uint8 labels at the network's size when ``labels`` is their
    OpenCV ``INTER_NEAREST`` resize, else None (``inference.SegmentationResult``).
    """

    labels: np.ndarray
    network_labels: np.ndarray | None

    @property
    def confidence(self) -> np.ndarray | None:
        """(H, W) float32 confidence, or None when not asked for."""
        ...


class SegmenterLike(Protocol):
    """The call API of ``ladderseg_ros.inference.Segmenter`` that the processor uses."""

    uses_disparity: bool

    def __call__(
        self,
        rgb: np.ndarray,
        disparity: np.ndarray | None = None,
        baseline: float | None = None,
        *,
        focal_length: float | None = None,
        return_confidence: bool = True,
    ) -> Segmentation:
        """Labels and confidence at ``rgb``'s size."""
        ...

    def network_size(
        self, width: int, height: int, focal_length: float | None = None
    ) -> tuple[int, int]:
        """(width, height) the network runs at for an image of this size and focal length."""
        ...


def _unheard(result: FrameResult, name: str) -> None:
    """``process``'s ``ready`` when nobody listens."""


def label_colors(segmentation: Segmentation, lut: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 palette colours of ``segmentation.labels`` by a (256, 3) uint8 ``lut``.

    Made at the network's size and resized as the labels were (``INTER_NEAREST``) when the
    Segmenter hands back the labels it resized (every backend does): OpenCV picks the same
    source pixel for any channel count, so the colours equal those of the camera-size
    labels at the cost of the network's pixels (1024x448 camera, 64x64 network: 0.41
    instead of 0.90 ms; 2048x1024 from 320x192: 2 instead of 12 ms on a loaded CPU), and
    less again by ``backends.resize_nearest`` (0.09 ms of CPU for 1024x448).
    """
    small = segmentation.network_labels
    if small is None:
        return apply_palette(segmentation.labels, lut)
    height, width = segmentation.labels.shape[:2]
    return resize_nearest(apply_palette(small, lut), (width, height))


def blend_overlay(rgb: np.ndarray, color: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * rgb + alpha * color``, rounded, uint8 (both (H, W, 3) uint8)."""
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, color, alpha, 0.0)


class FrameProcessor:
    """Segment one frame and build the requested outputs.

    Args:
        segmenter: A ``ladderseg_ros.inference.Segmenter`` (or anything with its call API).
        label_set: Palette for ``color`` and ``overlay``.
        sgbm: SGBM settings used when disparity must be computed from the pair.
        groups: Class groups for the ``groups`` output (None: no groups).
        points: Sampling of the ``points`` output (default ``PointsConfig()``).
        overlay_alpha: Weight of the colours in ``overlay`` (0..1).

    The settings are attributes a running node may replace between frames.
    """

    def __init__(
        self,
        segmenter: SegmenterLike,
        label_set: LabelSet,
        sgbm: SgbmConfig,
        groups: ClassGroups | None = None,
        points: PointsConfig | None = None,
        overlay_alpha: float = 0.5,
    ) -> None:
        self.segmenter = segmenter
        self.sgbm = sgbm
        self.groups = groups
        self.points = points or PointsConfig()
        self.overlay_alpha = overlay_alpha
        self.set_label_set(label_set)

    def set_label_set(self, label_set: LabelSet) -> None:
        """Use ``label_set``'s palette for ``color``, ``overlay`` and the cloud's colours."""
        self.label_set = label_set
        self._lut = palette_lut(label_set)

    def process(
        self,
        frame: StereoFrame,
        wanted: Wanted | None = None,
        ready: Callable[[FrameResult, str], None] | None = None,
    ) -> FrameResult:
        """Run the pipeline on ``frame`` and describe its output disparity.

        ``ready(result, name)`` is called as each output is final (its array set in
        ``result.outputs``, and for ``disparity`` its range and step in ``result``), in the
        order they are made: ``disparity`` (before the network, when wanted), ``labels``,
        ``confidence``, ``color``, ``overlay``, ``groups``, ``points``. A node publishes
        each then, while it computes the next: its subscribers start receiving the labels
        while the colours are still being made.

        Disparity is computed (SGBM, ``stereo.compute_disparity`` with the geometry's
        ``cx_offset``) when the frame brings a right image and the model uses disparity,
        the cloud needs it, or it is wanted as an output; a frame's received disparity is
        used as it is. The geometry's focal length lets the Segmenter run the network at
        the scale its weights were trained at. The cloud needs disparity and the left
        projection (else a ``points_skipped`` note says why).

        Raises:
            StereoError: The images cannot be matched (``stereo.compute_disparity``).
            LadderSegError: The Segmenter fails on the frame.
        """
        wanted = wanted or Wanted()
        ready = ready or _unheard
        result = self._describe(frame)
        disparity = self._disparity(frame, wanted)
        result.outputs.disparity = disparity if wanted.disparity else None
        if not math.isfinite(result.max_disparity) and result.outputs.disparity is not None:
            valid = result.outputs.disparity > 0  # no range given: the largest valid value
            result.max_disparity = (
                float(result.outputs.disparity[valid].max()) if valid.any() else 0.0
            )
        if result.outputs.disparity is not None:
            ready(result, "disparity")
        if wanted.segmentation:
            self._segment(frame, disparity, wanted, result, ready)
        return result

    def warm_up(self, frame: StereoFrame, calls_max: int) -> int:
        """Run the network on ``frame`` once for each session a live frame of its size needs.

        A backend may build a session (a TensorRT engine, on a GPU) for each camera size,
        network size, disparity size and whether confidence is computed
        (``inference.OnnxRuntimeBackend``). This feeds ``frame`` as the node would for
        every output set: with and without confidence, and for a scale-selection network
        with the disparity made for the labels alone and for the ``disparity`` and ``points``
        outputs where that differs. Computed: SGBM at ``sgbm.network_scale`` of the
        network's size, and at ``sgbm.scale``. Received: the map as the node's pipeline
        hands it over (``io.pipeline.MessagePipeline.frame``), sampled at the network's size
        where that is smaller each way, else as it is; and at the left image's size. Each
        is repeated while the backend's CPU thread trial is under way (``trying_threads``),
        at most ``calls_max`` times.
        Nothing is published, noted or said (the network-size line is left for the first
        live frame).

        Returns:
            The Segmenter calls made.

        Raises:
            StereoError, LadderSegError: as ``process``.
        """
        disparities: list[np.ndarray | None] = [None]
        if self.segmenter.uses_disparity:
            labels_only = Wanted(color=False, overlay=False, confidence=False, disparity=False)
            for_labels = self._disparity(frame, labels_only)
            for_outputs = self._disparity(frame, dataclasses.replace(labels_only, disparity=True))
            if frame.disparity is not None:  # the node samples it for the network alone
                network = self.segmenter.network_size(
                    frame.width, frame.height, frame.geometry.focal
                )
                rows, cols = frame.disparity.shape
                if network_read_size((cols, rows), network) != (cols, rows):
                    for_labels = resize_disparity(frame.disparity, network)
            disparities = [for_labels]
            if for_outputs is not None and (
                for_labels is None or for_outputs.shape != for_labels.shape
            ):
                disparities.append(for_outputs)
        baseline = frame.geometry.baseline if self.segmenter.uses_disparity else None
        backend = getattr(self.segmenter, "backend", None)  # not part of SegmenterLike
        calls = 0
        for disparity in disparities:
            for confidence in (False, True):
                for _ in range(calls_max):
                    self.segmenter(
                        frame.left,
                        disparity,
                        baseline,
                        focal_length=frame.geometry.focal,
                        return_confidence=confidence,
                    )
                    calls += 1
                    if not getattr(backend, "trying_threads", False):
                        break
        return calls

    def _describe(self, frame: StereoFrame) -> FrameResult:
        """The output disparity's focal, baseline, range and step, before any computing."""
        geometry = frame.geometry
        result = FrameResult(
            frame,
            FrameOutputs(),
            focal=geometry.focal,
            baseline=geometry.baseline,
            max_disparity=float(self.sgbm.num_disparities),
        )
        if frame.right is not None:  # the search range SGBM can run at this width
            offset = geometry.cx_offset
            fitted = fitted_num_disparities(self.sgbm, frame.width, math.floor(offset))
            result.num_disparities = fitted
            result.max_disparity = max(0.0, fitted - offset)  # in true (corrected) disparity
            result.delta_d = SGBM_DELTA_D
            if fitted < self.sgbm.num_disparities:
                result.notes.append(
                    FrameNote(
                        "sgbm_range",
                        f"sgbm_num_disparities {self.sgbm.num_disparities} does not fit "
                        f"{frame.width}-px wide images: matching with "
                        f"{fitted or 'none (image too narrow)'}",
                        bad=False,
                    )
                )
        elif frame.disparity is not None:
            result.min_disparity = frame.min_disparity
            result.max_disparity = frame.max_disparity
            result.delta_d = frame.delta_d
        return result

    def _disparity(self, frame: StereoFrame, wanted: Wanted) -> np.ndarray | None:
        """The frame's disparity, computed from the pair when something needs it.

        A received map smaller than the left image goes to the network as it is, and is
        resized to the left's size only for the outputs that need it there.
        """
        if frame.disparity is not None:
            if frame.disparity.shape != frame.left.shape[:2] and (
                wanted.points or wanted.disparity
            ):
                return resize_disparity(frame.disparity, (frame.width, frame.height))
            return frame.disparity
        if frame.right is None:
            return None
        uses_disparity = bool(self.segmenter.uses_disparity)
        needed = (uses_disparity and wanted.segmentation) or wanted.points or wanted.disparity
        if not needed:
            return None
        if wanted.points or wanted.disparity:
            return compute_disparity(frame.left, frame.right, self.sgbm, frame.geometry.cx_offset)
        return compute_disparity(
            frame.left,
            frame.right,
            self._network_scale_sgbm(frame),
            frame.geometry.cx_offset,
            at_matched_size=True,
        )

    def _network_scale_sgbm(self, frame: StereoFrame) -> SgbmConfig:
        """SGBM settings that match at ``sgbm.network_scale`` of the network's size.

        When disparity feeds only the network, matching at camera resolution is work the
        network never reads: its multiplexer samples disparity at its tap's stride (1 pixel
        in 64 at stride 8), and the Segmenter takes disparity at any size. Matching at a
        fraction of the network's size (``SgbmConfig.scale``; the search range scales with
        it) and handing over the small map, un-upsampled, keeps the selection: see
        ``stereo.NETWORK_SCALE_DEFAULT`` for the study behind the default. The ``disparity``
        and ``points`` outputs are always matched at ``sgbm.scale``.
        """
        width, _ = self.segmenter.network_size(frame.width, frame.height, frame.geometry.focal)
        scale = min(1.0, self.sgbm.network_scale * width / frame.width)
        return dataclasses.replace(self.sgbm, scale=scale)

    def _segment(
        self,
        frame: StereoFrame,
        disparity: np.ndarray | None,
        wanted: Wanted,
        result: FrameResult,
        ready: Callable[[FrameResult, str], None],
    ) -> None:
        """Labels (at the left image's size, as the Segmenter promises) and what follows.

        Each output is handed to ``ready`` as soon as it is set.
        """
        uses_disparity = bool(self.segmenter.uses_disparity)
        segmentation = self.segmenter(
            frame.left,
            disparity if uses_disparity else None,
            result.baseline if uses_disparity else None,
            focal_length=result.focal,
            return_confidence=wanted.confidence or wanted.points,
        )
        self._describe_scale(frame, result)
        out = result.outputs
        labels = segmentation.labels
        if wanted.labels:
            out.labels = labels
            ready(result, "labels")
        confidence = segmentation.confidence  # resized here, once the labels have left
        if wanted.confidence:
            out.confidence = confidence
            ready(result, "confidence")
        color = label_colors(segmentation, self._lut) if (wanted.color or wanted.overlay) else None
        if wanted.color:
            out.color = color
            ready(result, "color")
        if wanted.overlay and color is not None:
            out.overlay = blend_overlay(frame.left, color, self.overlay_alpha)
            ready(result, "overlay")
        if wanted.groups and self.groups is not None:
            out.groups = self.groups(labels)
            ready(result, "groups")
        if wanted.points:
            self._points(frame, disparity, labels, confidence, result)
            if out.points is not None:
                ready(result, "points")

    def _describe_scale(self, frame: StereoFrame, result: FrameResult) -> None:
        """Once per camera size and network size: the network size it set (and any clamp)."""
        describe = getattr(self.segmenter, "describe_scale", None)
        said = describe(frame.width, frame.height, result.focal) if describe else None
        if said is not None:
            line, clamped = said
            source = frame.geometry.focal_source if result.focal else "no calibration"
            kind = "network_size_clamped" if clamped else "network_size"
            result.notes.append(FrameNote(kind, f"{source}: {line}", bad=False, info=True))

    def _points(
        self,
        frame: StereoFrame,
        disparity: np.ndarray | None,
        labels: np.ndarray,
        confidence: np.ndarray,
        result: FrameResult,
    ) -> None:
        """The semantic cloud, or a ``points_skipped`` note saying why there is none."""
        projection = frame.geometry.projection
        if projection is None:
            why = frame.geometry.projection_missing
        elif not result.focal or not result.baseline:
            why = "no disparity focal length and baseline"
        else:
            try:
                geometry = StereoGeometry.from_projection(projection, result.focal, result.baseline)
            except PointsError as exc:
                why = f"left/camera_info: {exc}"
            else:
                if disparity is not None:
                    palette = self._lut if self.points.color == "label" else None
                    result.outputs.points = semantic_points(
                        disparity, labels, confidence, frame.left, geometry, self.points, palette
                    )
                return
        result.notes.append(FrameNote("points_skipped", f"no point cloud: {why}"))
