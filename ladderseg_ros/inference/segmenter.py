"""Segmenter: RGB (+ disparity, baseline) in, labels and confidence at the input size out.

Preprocessing (resize, normalization) and postprocessing (labels back to the camera size)
live here once, so the torch and ONNX Runtime backends answer identically.

Scale: a network recognises objects at the pixel sizes it was trained on. Weights record the
scale they were trained at (``input_size`` and the training camera's ``focal_length`` in
pixels at that size); by default each image is resized so that the network sees objects at
that scale (``network_size``), and outputs are mapped back to the image's size.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from ladderseg_ros.classes import LabelSet
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.inference.backends import (
    PRECISIONS,
    Backend,
    OnnxRuntimeBackend,
    TorchBackend,
    default_backend,
    ort_auto_device,
    upsample_confidence,
)
from ladderseg_ros.inference.cache import cached_file
from ladderseg_ros.stereo import same_aspect
from ladderseg_ros.weights import WeightsMetadata

_LOG = logging.getLogger(__name__)
BACKENDS = ("auto", "torch", "onnxruntime")
SCALE_WARNING_RATIO = 1.5
"""An explicit input size this far (either way) from the trained scale is warned about."""
#: (width, height) of the calibration frames when neither the caller nor the weights name one
INT8_CALIBRATION_SIZE = (1024, 448)


class SegmenterError(LadderSegError):
    """Bad input to a Segmenter (shape, dtype, missing disparity) or a bad backend choice."""


class SegmentationResult:
    """One segmented frame, at the size of the RGB image given.

    Attributes:
        labels: (H, W) uint8 class indices (trainIds).
        confidence: (H, W) float32 softmax probability of the chosen class (None when not
            asked for). Given at the network's size (the CPU backends' form), it is resized
            to ``labels``' size (``backends.upsample_confidence``, bilinear) when first read:
            a node publishes the labels before paying for it.
        logits: (C, H, W) float32, only when asked for.
        network_labels: (h, w) uint8 labels at the network's size when ``labels`` is their
            nearest resize (``backends.BackendOutput``), else None: maps that are a function
            of the label are cheaper made there (``frames.processor.label_colors``).
    """

    def __init__(
        self,
        labels: np.ndarray,
        confidence: np.ndarray | None,
        logits: np.ndarray | None = None,
        network_labels: np.ndarray | None = None,
    ) -> None:
        self.labels = labels
        self._confidence = confidence
        self.logits = logits
        self.network_labels = network_labels

    @property
    def confidence(self) -> np.ndarray | None:
        """(H, W) float32 confidence at ``labels``' size, or None (see the class)."""
        confidence = self._confidence
        if confidence is not None and confidence.shape != self.labels.shape:
            height, width = self.labels.shape[:2]
            self._confidence = confidence = upsample_confidence(confidence, (width, height))
        return confidence

    def __repr__(self) -> str:
        def shape(array: np.ndarray | None) -> str:
            return "None" if array is None else f"{array.dtype}{array.shape}"

        return (
            f"SegmentationResult(labels={shape(self.labels)}, "
            f"confidence={shape(self._confidence)}, logits={shape(self.logits)}, "
            f"network_labels={shape(self.network_labels)})"
        )


def label_set_for(metadata: WeightsMetadata) -> LabelSet:
    """The class set the weights carry (names, colours, categories, groups).

    Older weights without colours: the built-in set they name, else the bit palette
    (``WeightsMetadata.class_set``).
    """
    return metadata.class_set()


def weights_metadata(path: str | Path) -> WeightsMetadata:
    """What a weights file (``.safetensors`` or an exported ``.onnx``) says, without loading it.

    Entry points check it against their input (does the model need disparity, does the input
    have it) before ``Segmenter.from_weights`` spends an export or an int8 calibration.

    Raises:
        WeightsError, ExportError: a missing or unreadable file, or no valid metadata.
    """
    from ladderseg_ros.inference.export import is_onnx_file, read_onnx_metadata
    from ladderseg_ros.weights import read_metadata

    return read_onnx_metadata(path) if is_onnx_file(path) else read_metadata(Path(path))


class Segmenter:
    """Semantic segmentation of single frames with a LadderSeg network.

    Build it with ``from_weights``; call it with an RGB image (and disparity + baseline when
    ``uses_disparity``).
    """

    def __init__(
        self,
        backend: Backend,
        metadata: WeightsMetadata,
        input_size: tuple[int, int] | None = None,
        max_network_pixels: int | None = None,
    ) -> None:
        self.backend = backend
        self.metadata = metadata
        self.label_set = label_set_for(metadata)
        self.uses_disparity = metadata.model.uses_disparity
        self.input_size = input_size
        self.max_network_pixels = max_network_pixels or self.default_max_network_pixels()
        self._warned_sizes: set[tuple[int, int, int]] = set()
        self._described: set[tuple[int, int, tuple[int, int]]] = set()

    def default_max_network_pixels(self) -> int | None:
        """The trained input's pixel count (None when the weights record no trained size)."""
        trained = self.metadata.input_size
        return None if trained is None else trained[0] * trained[1]

    @property
    def backend_name(self) -> str:
        """Backend and provider, e.g. ``torch:cuda:fp16``, ``onnxruntime:CPUExecutionProvider``."""
        return self.backend.name

    @classmethod
    def from_weights(
        cls,
        path: str | Path,
        backend: str = "torch",
        device: str = "auto",
        half: bool = False,
        threads: int | None = None,
        input_size: tuple[int, int] | None = None,
        precision: str = "fp32",
        max_network_pixels: int | None = None,
        resize_in_graph: bool | None = None,
    ) -> Segmenter:
        """Loads weights (``.safetensors``; ``.onnx`` for onnxruntime) and builds a backend.

        Args:
            path: weights file; for onnxruntime a ``.safetensors`` file is exported once to
                an ONNX file cached under ``$LADDERSEG_CACHE`` (default ``~/.cache/ladderseg``;
                see ``inference.cache``: unwritable folders and unusable files never stop it).
            backend: ``torch``, ``onnxruntime`` or ``auto`` (torch on a CUDA device, else
                onnxruntime: see ``backends.default_backend``).
            device: ``auto``, ``cuda`` or ``cpu``.
            half: fp16 inference (torch on CUDA only).
            threads: CPU threads (None: every core; for torch see
                ``backends.torch_threads_default``).
            input_size: (width, height) the network sees; None (the default) resizes each
                image to the scale the weights were trained at (``network_size``).
            max_network_pixels: the most pixels the network runs at when its size follows the
                trained scale (None: the trained input's pixel count; ``trained_size``).
            resize_in_graph: onnxruntime: resize to and from the network's size in the graph
                (None: on GPU providers; on the CPU OpenCV measured faster).
            precision: ``fp32`` or ``int8`` (onnxruntime: static QDQ quantization calibrated
                on synthetic frames, made once from a ``.safetensors`` file and cached; an
                ``.onnx`` file must already be of that precision, see ``ladderseg export``).

        Raises:
            SegmenterError: unknown backend or precision, or bad input size.
            WeightsError, ExportError, BackendError: unusable weights or device.
        """
        from ladderseg_ros.inference.export import (
            export_onnx,
            graph_revision,
            is_onnx_file,
            read_onnx_metadata,
        )
        from ladderseg_ros.inference.quantize import (
            calibration_revision,
            onnx_precision,
            quantize_int8,
        )
        from ladderseg_ros.weights import load_weights

        if backend not in BACKENDS:
            raise SegmenterError(f"unknown backend {backend!r}: use {' or '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise SegmenterError(f"unknown precision {precision!r}: use {' or '.join(PRECISIONS)}")
        if backend == "auto":
            backend = "onnxruntime" if is_onnx_file(path) else default_backend(device)
            if backend == "onnxruntime" and device == "auto":
                device = ort_auto_device()  # no fallback warning where no GPU was asked for
        if precision == "int8" and backend != "onnxruntime":
            raise SegmenterError("precision 'int8' runs on the onnxruntime backend")
        if input_size is not None and (
            len(input_size) != 2
            or not all(
                isinstance(v, int | np.integer) and not isinstance(v, bool) for v in input_size
            )
            or min(input_size) < 16
        ):
            raise SegmenterError(
                f"input_size must be (width, height), whole numbers >= 16, got {input_size}"
            )
        path = Path(path)
        if is_onnx_file(path):
            if backend != "onnxruntime":
                raise SegmenterError(f"{path}: an ONNX file needs backend='onnxruntime'")
            metadata = read_onnx_metadata(path)
            if onnx_precision(path) != precision:
                raise SegmenterError(
                    f"{path} is {onnx_precision(path)}, not {precision}: pass its precision, "
                    "or make the other with `ladderseg export` (--int8)"
                )
            backend_ = OnnxRuntimeBackend(
                path, device, threads, mean=metadata.mean, std=metadata.std
            )
            return cls(backend_, metadata, input_size, max_network_pixels)
        model, metadata = load_weights(path)
        if backend == "torch":
            backend_ = TorchBackend(model, device, half, threads, metadata.mean, metadata.std)
            return cls(backend_, metadata, input_size, max_network_pixels)
        if half:
            _LOG.warning("half precision is a torch-backend option; onnxruntime runs float32")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        onnx_path = cached_file(
            "onnx",
            f"{path.stem}-{digest}-{graph_revision()}.onnx",
            lambda out: export_onnx(model, metadata, out),
        )
        if precision == "int8":
            size = input_size or metadata.input_size or INT8_CALIBRATION_SIZE
            fp32_path = onnx_path

            def calibrate(out: Path) -> None:
                _LOG.info("calibrating an int8 model of %s (once; cached)", path)
                quantize_int8(fp32_path, out, metadata, size)

            onnx_path = cached_file(
                "onnx",
                f"{fp32_path.stem}-int8-{calibration_revision()}-{size[0]}x{size[1]}.onnx",
                calibrate,
            )
        backend_ = OnnxRuntimeBackend(
            onnx_path, device, threads, None, metadata.mean, metadata.std, resize_in_graph
        )
        return cls(backend_, metadata, input_size, max_network_pixels)

    def trained_size(
        self, width: int, height: int, focal_length: float | None = None
    ) -> tuple[int, int]:
        """(width, height) at which an image shows objects at the trained scale.

        Args:
            width: the camera image's width in pixels.
            height: the camera image's height in pixels.
            focal_length: the camera's fx in pixels at that size (CameraInfo K[0], Cityscapes
                camera JSON, KITTI P_rect), or None when unknown.

        Returns:
            The image scaled by ``trained focal / focal_length`` when both are known; else by
            ``trained width / width`` (the same field of view assumed); the image's own size
            when the weights record no trained size. Each side is then rounded to the nearest
            multiple of the network's output stride (at least one stride), as the authors'
            evaluation resizes to multiples of 64: padding the image instead puts a band the
            network never saw at its bottom, where the road is (measured on the synthetic
            rigs with the demo weights: 47.7 -> 56.4 mIoU at the KITTI rig, 37.1 -> 46.9 at
            the Cityscapes rig). A size above ``max_network_pixels`` is scaled down to fit
            (aspect kept, sides rounded to the stride, the longer one cut by a stride while
            it does not fit): a calibration with a tiny focal length, or
            weights trained at a long focal length on a short one, never sizes an
            allocation without bound.
        """
        return self._trained_size(width, height, focal_length)[0]

    def _trained_size(
        self, width: int, height: int, focal_length: float | None
    ) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """``trained_size`` and the size it was clamped from (None: not clamped)."""
        trained, trained_focal = self.metadata.input_size, self.metadata.focal_length
        if trained is None:
            return (width, height), None
        if trained_focal and focal_length and math.isfinite(focal_length) and focal_length > 0:
            scale = trained_focal / focal_length
        else:
            scale = trained[0] / width
        stride = self.output_stride
        size = tuple(
            max(stride, math.floor(s * scale / stride + 0.5) * stride) for s in (width, height)
        )
        limit = self.max_network_pixels
        if limit is None or size[0] * size[1] <= limit:
            return size, None  # type: ignore[return-value]
        shrink = math.sqrt(limit / (size[0] * size[1]))
        width, height = (max(stride, math.floor(s * shrink / stride + 0.5) * stride) for s in size)
        while width * height > limit and max(width, height) > stride:  # rounded up past it
            if width >= height:
                width -= stride
            else:
                height -= stride
        return (width, height), size  # type: ignore[return-value]

    def describe_scale(
        self, width: int, height: int, focal_length: float | None = None
    ) -> tuple[str, bool] | None:
        """One line on the network size of a camera, the first time it is asked for.

        Returns:
            (line, clamped) for a camera size and network size not described before, else
            None. ``clamped``: ``max_network_pixels`` cut the trained scale's size.
        """
        if self.input_size is not None:
            return None
        size, wanted = self._trained_size(width, height, focal_length)
        key = (width, height, size)  # a focal length that jitters gives no new line
        if key in self._described:
            return None
        self._described.add(key)
        focal = f"fx {focal_length:g} px" if focal_length else "no focal length (trained width)"
        line = (
            f"network {size[0]}x{size[1]} for {width}x{height} images at {focal} "
            f"(trained {self.metadata.describe_scale()})"
        )
        if wanted is not None:
            line += (
                f"; the trained scale wants {wanted[0]}x{wanted[1]}, clamped to "
                f"max_network_pixels={self.max_network_pixels}"
            )
        return line, wanted is not None

    @property
    def output_stride(self) -> int:
        """Subsampling of the network's deepest features (64 for ``ldn*``)."""
        return 4 * 2**self.metadata.model.num_skips

    def network_size(
        self, width: int, height: int, focal_length: float | None = None
    ) -> tuple[int, int]:
        """(width, height) the network runs at for an image of this size and focal length.

        The explicit ``input_size`` when one was given (with one warning per camera when it
        departs from the trained scale by more than ``SCALE_WARNING_RATIO``), else
        ``trained_size``.
        """
        if self.input_size is None:
            return self.trained_size(width, height, focal_length)
        wanted = self.trained_size(width, height, focal_length)[0]
        key = (width, height, wanted)  # bounded by the sizes, not by the focal lengths seen
        if key not in self._warned_sizes and self.metadata.input_size is not None:
            self._warned_sizes.add(key)
            ratio = self.input_size[0] / wanted
            if max(ratio, 1 / ratio) > SCALE_WARNING_RATIO:
                _LOG.warning(
                    "input size %dx%d shows a %dx%d camera at %.2fx the scale %s was trained at "
                    "(%s); objects will look %s than in training: leave the input size unset "
                    "to run at the trained scale",
                    *self.input_size,
                    width,
                    height,
                    ratio,
                    self.metadata.model.name,
                    self.metadata.describe_scale(),
                    "larger" if ratio > 1 else "smaller",
                )
        return self.input_size

    def __call__(
        self,
        rgb: np.ndarray,
        disparity: np.ndarray | None = None,
        baseline: float | None = None,
        return_logits: bool = False,
        focal_length: float | None = None,
        return_confidence: bool = True,
    ) -> SegmentationResult:
        """Segments one RGB frame.

        Every per-pixel step -- resizing to the network's size, normalization, the network,
        argmax, confidence, resizing back -- runs in the backend, where the network runs
        (``backends.Backend.run``).

        Args:
            rgb: (H, W, 3) uint8, RGB order (a view of a message's buffer is not copied).
            disparity: (h, w) float32 disparity in pixels of its own width (0 = invalid): at
                ``rgb``'s size or smaller (e.g. matched at a fraction of the network's
                size), a scaled copy of ``rgb``'s size (each side rounded to whole pixels,
                ``stereo.same_aspect``), or at the network's size exactly.
            baseline: stereo baseline in metres.
            return_logits: also return (C, H, W) logits.
            focal_length: the camera's fx in pixels at ``rgb``'s size, when known: sets the
                network's input size (``network_size``).
            return_confidence: compute the confidence (False: ``confidence`` is None).

        Returns:
            Labels, confidence (and logits) at ``rgb``'s size.

        Raises:
            SegmenterError: wrong shape or dtype, or disparity/baseline missing for a model
                that selects scales.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SegmenterError(
                f"rgb must be an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}"
            )
        if not rgb.flags.c_contiguous:
            rgb = np.ascontiguousarray(rgb)
        height, width = rgb.shape[:2]
        size = self.network_size(width, height, focal_length)
        disp = base = None
        if self.uses_disparity:
            disp, base = self._check_stereo(disparity, baseline, (height, width), size)
        out = self.backend.run(rgb, size, disp, base, return_logits, return_confidence)
        logits = out.logits
        if logits is not None and size != (width, height):
            logits = _resize_channels(logits, (width, height))
        return SegmentationResult(out.labels, out.confidence, logits, out.network_labels)

    def _check_stereo(
        self,
        disparity: np.ndarray | None,
        baseline: float | None,
        shape: tuple[int, int],
        network: tuple[int, int],
    ) -> tuple[np.ndarray, float]:
        name = self.metadata.model.name
        if disparity is None or baseline is None:
            raise SegmenterError(f"model {name!r} selects scales: pass disparity and baseline")
        disparity = np.asarray(disparity, dtype=np.float32)
        if disparity.ndim != 2 or not disparity_fits(disparity.shape, shape, network):
            raise SegmenterError(
                f"disparity shape {disparity.shape} does not fit the image's {shape}: "
                "give it at the image's size or a scaled copy of it, or at the network's size"
            )
        if not (math.isfinite(baseline) and baseline > 0):
            raise SegmenterError(f"baseline must be a positive number of metres, got {baseline}")
        return disparity, float(baseline)


def disparity_fits(
    disparity: tuple[int, ...], image: tuple[int, int], network: tuple[int, int]
) -> bool:
    """Whether a disparity map of shape ``disparity`` (h, w) fits an image of shape ``image``.

    Args:
        disparity: (h, w) of the disparity map.
        image: (H, W) of the camera image.
        network: (width, height) the network runs at.

    Returns:
        True at the network's size exactly (sampled where it is read), or at the image's size
        or smaller with its aspect (each side rounded to whole pixels, ``stereo.same_aspect``).
    """
    if tuple(disparity) == (network[1], network[0]):
        return True
    return (
        len(disparity) == 2
        and disparity[0] <= image[0]
        and disparity[1] <= image[1]
        and same_aspect(tuple(disparity)[::-1], tuple(image)[::-1])
    )


def _resize_channels(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (C, h, w) to (C, H, W), a few channels at a time (OpenCV limit)."""
    chunks = [
        cv2.resize(np.ascontiguousarray(logits[i : i + 4].transpose(1, 2, 0)), size)
        for i in range(0, logits.shape[0], 4)
    ]
    return np.concatenate(
        [c.reshape(size[1], size[0], -1).transpose(2, 0, 1) for c in chunks], 0
    ).astype(np.float32)
