"""Inference backends: torch (CPU/CUDA, fp16, channels_last) and ONNX Runtime.

A backend takes the camera's uint8 RGB image and the size the network runs at, and returns
labels and confidence at the camera's size: on a GPU, resizing, normalization, the network,
argmax, confidence and the resize back all run there (``camera_graph``, ``resample``); on
the CPU OpenCV resizes to and from the network's size (it measured faster there:
``downsample_input``) and the backend does the rest.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.inference.resample import nearest_index
from ladderseg_ros.weights import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

    from ladderseg_ros.model import LadderSeg

_LOG = logging.getLogger(__name__)


class BackendOutput(NamedTuple):
    """What ``Backend.run`` returns.

    Attributes:
        labels: (H, W) uint8 trainIds at the camera's size.
        confidence: (H, W) float32 largest softmax probability, or None; (h, w) at the
            network's size where the CPU path resized the labels (``resize_nearest``):
            ``segmenter.SegmentationResult`` resizes it when it is first read, so a node's
            labels leave before that is paid for.
        logits: (C, h, w) float32 at the network's size, or None.
        network_labels: (h, w) uint8 labels at the network's size when ``labels`` is their
            nearest resize, else None (the sizes are equal). On the CPU OpenCV's
            ``INTER_NEAREST`` resizes them (``resize_nearest``); the graph and the torch
            device path gather by its index (``resample.nearest_index``), so the same holds.
            Maps that are a function of the label (palette colours) cost their pixels
            there and come to the camera's size exactly by the same resize
            (``frames.processor.label_colors``).
    """

    labels: np.ndarray
    confidence: np.ndarray | None
    logits: np.ndarray | None
    network_labels: np.ndarray | None = None


class BackendError(LadderSegError):
    """A backend cannot be created with the requested device or file."""


class Backend(Protocol):
    """What the Segmenter needs of a backend: a ``name`` for logs and ``run``."""

    name: str

    def run(
        self,
        camera: np.ndarray,
        network_size: tuple[int, int],
        disparity: np.ndarray | None,
        baseline: float | None,
        want_logits: bool,
        want_confidence: bool = True,
    ) -> BackendOutput:
        """Segments one camera image at the network's size.

        Args:
            camera: (H, W, 3) uint8 RGB (a view of a message's buffer is fine).
            network_size: (w, h) the network runs at: the image is resized to it as
                OpenCV's ``INTER_AREA`` (``INTER_LINEAR`` where it grows) and normalized.
            disparity: (hd, wd) float32 pixels of its own width (0 = invalid), any size of
                the image's aspect, or None.
            baseline: metres, or None.
            want_logits: also return the logits.
            want_confidence: return the confidence (False: None, and not computed where
                the backend can skip it).

        Returns:
            (H, W) uint8 labels, float32 confidence (largest softmax probability) at (H, W),
            or at the network's (h, w) where the labels were resized on the CPU, or None,
            (C, h, w) float32 logits at the network's size or None, and the labels at the
            network's size where ``labels`` was resized from them (``BackendOutput``).
        """
        ...


def default_backend(device: str) -> str:
    """The backend ``auto`` means for ``device``: ``torch`` or ``onnxruntime``.

    Torch when ``device`` is (or ``auto`` finds) a CUDA GPU, else onnxruntime, the faster and
    load-tolerant CPU backend (README, "Speed").
    """
    import torch

    gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "torch" if gpu else "onnxruntime"


def ort_auto_device() -> str:
    """``cuda`` when this ONNX Runtime has a GPU provider, else ``cpu``."""
    import onnxruntime as ort

    gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
    return "cuda" if gpu & set(ort.get_available_providers()) else "cpu"


def reuse_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the system.

    A float32 feature map at 2048x1024 is tens of MB; glibc serves blocks that large with a
    fresh ``mmap`` and unmaps them on free, so every torch CPU forward touched (page-faulted)
    each of its intermediate tensors anew: over a million faults per frame. With mmap off
    and trimming off, the blocks stay in the heap and the next frame reuses them. The
    process keeps its peak footprint (the node's working set anyway). Returns False where
    the C library is not glibc (nothing changed).
    """
    import ctypes
    import ctypes.util

    m_trim_threshold, m_mmap_max = -1, -4  # glibc <malloc.h>
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


class TorchBackend:
    """Runs a LadderSeg module in inference mode.

    On the CPU: ``threads`` intra-op threads (None: ``torch_threads_default()``) and freed
    tensors kept for reuse (``reuse_freed_memory``). ``mean``/``std``: the weights'
    normalization of 0..1 RGB. ``resize_on_device``: resize to and from the network's size
    with torch on the device (None: on a GPU; on the CPU OpenCV, measured faster).

    Raises:
        BackendError: an unknown or malformed device, or CUDA asked for where there is none.
    """

    def __init__(
        self,
        model: LadderSeg,
        device: str = "auto",
        half: bool = False,
        threads: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        resize_on_device: bool | None = None,
    ) -> None:
        import torch

        if check_device(device) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if device.startswith("cuda:") and gpus and cuda_device_id(device) >= gpus:
            raise BackendError(f"device {device!r}: this machine has {gpus} GPU(s), from cuda:0")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} requested but CUDA is not available")
        self.device = torch.device(device)
        if self.device.type == "cpu":
            torch.set_num_threads(threads or torch_threads_default())
            reuse_freed_memory()
        elif threads is not None:
            torch.set_num_threads(threads)
        self.half = half and self.device.type == "cuda"
        if half and not self.half:
            _LOG.warning("half precision needs CUDA; running float32 on %s", self.device)
        model = model.eval().to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.half else model
        self.name = f"torch:{self.device}" + (":fp16" if self.half else "")
        self._resize_here = (
            self.device.type == "cpu" if resize_on_device is None else not resize_on_device
        )
        self._mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._scale = 1.0 / (torch.tensor(std, device=self.device).view(1, 3, 1, 1) * 255.0)

    def run(
        self,
        camera: np.ndarray,
        network_size: tuple[int, int],
        disparity: np.ndarray | None,
        baseline: float | None,
        want_logits: bool,
        want_confidence: bool = True,
    ) -> BackendOutput:
        """Runs every step on the backend's device (``Backend.run``).

        On the CPU, OpenCV resizes to and from the network's size (``downsample_input``,
        ``resize_nearest``), as for ONNX Runtime there.
        """
        import torch
        import torch.nn.functional as F

        from ladderseg_ros.inference.resample import (
            axis_resample,
            integer_area,
            nearest_torch,
            resample_torch,
        )

        (cam_h, cam_w), (net_w, net_h) = camera.shape[:2], network_size
        if self._resize_here and (cam_w, cam_h) != (net_w, net_h):  # OpenCV: faster on a CPU
            small = downsample_input(camera, network_size)
            small_labels, confidence, logits, _ = self.run(
                small, network_size, disparity, baseline, want_logits, want_confidence
            )
            labels = resize_nearest(small_labels, (cam_w, cam_h))
            return BackendOutput(labels, confidence, logits, small_labels)  # see BackendOutput
        with torch.inference_mode():
            pixels = camera if camera.flags.writeable else camera.copy()  # torch wants it
            x = torch.from_numpy(pixels).to(self.device)[None].float()  # (1, H, W, 3)
            if (cam_w, cam_h) != (net_w, net_h):  # as camera_graph.with_camera_io
                rows, cols = axis_resample(cam_h, net_h), axis_resample(cam_w, net_w)
                x = resample_torch(resample_torch(x, 1, rows), 2, cols)
                x = torch.floor(x + 0.5) if integer_area(rows, cols) else torch.round(x)
            x = (x.permute(0, 3, 1, 2) - self._mean) * self._scale
            x = x.half() if self.half else x
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            d = b = None
            if disparity is not None and baseline is not None:
                d = torch.from_numpy(np.ascontiguousarray(disparity, np.float32))
                d = d.to(self.device)[None, None]
                if d.shape[2:] != (net_h, net_w):
                    d = nearest_torch(d, (net_h, net_w)) * (net_w / disparity.shape[1])
                b = torch.tensor([baseline], dtype=torch.float32, device=self.device)
            logits = self.model(x, d, b)["out"][0].float()
            prob, labels = torch.softmax(logits, 0).max(0)
            labels = labels.to(torch.uint8)
            small = None
            if (cam_w, cam_h) != (net_w, net_h):
                small = labels.cpu().numpy()  # colours are made from them (BackendOutput)
                size = (cam_h, cam_w)
                labels = nearest_torch(labels[None, None], size)[0, 0]
                if want_confidence:
                    prob = F.interpolate(prob[None, None], size=size, mode="bilinear")[0, 0]
            out_logits = logits.cpu().numpy() if want_logits else None
            confidence = prob.cpu().numpy() if want_confidence else None
            return BackendOutput(labels.cpu().numpy(), confidence, out_logits, small)


def downsample_input(camera: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 ``camera`` at ``size`` = (w, h) by OpenCV, as the graph's tables do.

    Each axis by its own rule: ``INTER_AREA`` where it shrinks, ``INTER_LINEAR`` where it
    grows (OpenCV's ``INTER_AREA`` on an image that shrinks one way and grows the other is
    neither). On the CPU this is what the backends run instead of the graph's resampling:
    OpenCV took 0.3 ms for 1024x448 -> 64x64 and 2.2 ms for 2048x1024 -> 64x64 where the
    graph's cast and prefix sums took 1.5 and 9 ms (2048x1024 -> 320x192: 8.2 vs 10 ms).
    """
    import cv2

    height, width = camera.shape[:2]
    if size[0] <= width and size[1] <= height:
        return cv2.resize(camera, size, interpolation=cv2.INTER_AREA)
    if size[0] >= width and size[1] >= height:
        return cv2.resize(camera, size, interpolation=cv2.INTER_LINEAR)
    shrunk = (size[0], height) if size[0] < width else (width, size[1])
    camera = cv2.resize(camera, shrunk, interpolation=cv2.INTER_AREA)
    return cv2.resize(camera, size, interpolation=cv2.INTER_LINEAR)


def resize_nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w[, C]) ``image`` at ``size`` = (width, height): OpenCV's ``INTER_NEAREST`` pixels.

    The labels' resize to the camera on the CPU, what the graph's gathers do on a GPU
    (``camera_graph.with_camera_io``).
    OpenCV picks each output column's and row's source independently
    (``resample.nearest_index``), so its resize of the columns alone, followed by a gather
    of whole rows (one contiguous copy each), gives the same array as
    ``cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)`` -- at a fraction of the
    cost where the rows grow: labels from 64x64 to 1024x448 took 0.05 against 0.26 ms of
    CPU, (H, W, 3) colours 0.09 against 0.47 ms (OpenCV's resize on two threads).

    Returns:
        A new C-contiguous array of ``image``'s dtype, (height, width[, C]); one channel
        comes back (height, width), as from OpenCV. (OpenCV's Python binding returns int64
        as int32: use the dtypes it keeps.)
    """
    import cv2

    width, height = size
    rows = image.shape[0]
    if image.shape[1] != width:
        image = cv2.resize(image, (width, rows), interpolation=cv2.INTER_NEAREST)
        if rows == height:
            return image
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]  # as OpenCV's resize returns it
    if rows == height:
        return np.array(image, order="C")  # the input's own pixels: a copy
    return np.ascontiguousarray(image[_nearest_rows(rows, height)])  # C for any input layout


@functools.lru_cache(maxsize=16)
def _nearest_rows(n_in: int, n_out: int) -> np.ndarray:
    """``resample.nearest_index``, kept per size pair (read-only)."""
    index = nearest_index(n_in, n_out)
    index.flags.writeable = False
    return index


def upsample_confidence(confidence: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 ``confidence`` at ``size`` = (width, height), bilinear, by OpenCV.

    What the graph's ``Resize`` does on a GPU (``camera_graph.with_camera_io``); on the CPU
    OpenCV took 0.25 ms for 320x192 -> 2048x1024 where ONNX Runtime's took 4.5 ms (2
    threads, shared 2-core CPU).
    """
    import cv2

    return cv2.resize(confidence, size, interpolation=cv2.INTER_LINEAR)


def select_providers(device: str, available: list[str]) -> list[str]:
    """TensorRT > CUDA > CPU among the available providers (CPU only for device='cpu')."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    chosen = [p for p in wanted if p in available]
    return [*chosen, "CPUExecutionProvider"]


DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def check_device(device: str) -> str:
    """``device`` when it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (N a GPU index).

    Raises:
        BackendError: anything else, named, with the accepted forms.
    """
    if device in ("auto", "cpu", "cuda"):
        return device
    if not device.startswith("cuda:"):
        raise BackendError(f"unknown device {device!r}: use {DEVICE_CHOICES}")
    cuda_device_id(device)
    return device


def cuda_device_id(device: str) -> int:
    """GPU index of ``cuda:N`` (0 for ``cuda`` and ``auto``).

    Raises:
        BackendError: ``cuda:`` followed by anything but a non-negative integer.
    """
    if not device.startswith("cuda:"):
        return 0
    index = device.removeprefix("cuda:")
    # as torch.device parses it: ASCII digits, no leading zero
    if re.fullmatch(r"0|[1-9][0-9]{0,3}", index) is None:
        raise BackendError(
            f"device {device!r}: after cuda: comes a GPU index 0, 1, 2, ... as in cuda:1"
        )
    return int(index)


def provider_options(
    providers: list[str], device_id: int, engine_dir: Path
) -> list[str | tuple[str, dict[str, object]]]:
    """ONNX Runtime provider list: GPU providers on GPU ``device_id``, TensorRT engines cached.

    The engine cache lets a restarted node reuse the engines instead of rebuilding them.
    """
    out: list[str | tuple[str, dict[str, object]]] = []
    for p in providers:
        if p == "TensorrtExecutionProvider":
            out.append(
                (
                    p,
                    {
                        "device_id": device_id,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(engine_dir),
                    },
                )
            )
        elif p == "CUDAExecutionProvider":
            out.append((p, {"device_id": device_id}))
        else:
            out.append(p)
    return out


def cpu_fallback_warning(device: str, available: list[str], used: list[str]) -> str | None:
    """The one warning due when a GPU was asked for (``auto``/``cuda``) but the session is on CPU.

    None when the device was ``cpu`` or a GPU provider runs the session.
    """
    if device == "cpu" or not used or used[0] != "CPUExecutionProvider":
        return None
    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    if not gpu:
        return (
            f"device {device!r}: this ONNX Runtime has no CUDA/TensorRT provider "
            f"(available: {', '.join(available)}); running on CPU"
        )
    return (
        f"device {device!r}: {' and '.join(gpu)} failed to start (see ONNX Runtime's log); "
        "running on CPU"
    )


def default_cache_dir() -> Path:
    """``$LADDERSEG_CACHE`` or ``~/.cache/ladderseg``: exported ONNX files, TensorRT engines.

    An empty ``LADDERSEG_CACHE`` counts as unset (not the current directory).
    """
    return Path(os.environ.get("LADDERSEG_CACHE") or Path.home() / ".cache" / "ladderseg")


PRECISIONS = ("fp32", "int8")
#: A CPU session whose faster of calls 2 and 3 takes less than this on every core is then
#: timed against one thread, and the faster kept (``OnnxRuntimeBackend``, threads not given).
ONE_THREAD_TRIAL_S = 0.02
GATE_CALLS = 2  # timed calls on every core before the gate (a burst of load skips no trial)
TRIAL_CALLS = 6  # timed calls per thread count, alternating, after an untimed one each
_SESSIONS_KEPT = 4  # sizes with a live session (a camera has one; tools a few)
#: camera (width, height), network (width, height), disparity (width, height) or None, logits,
#: confidence
_SessionKey = tuple[tuple[int, int], tuple[int, int], "tuple[int, int] | None", bool, bool]


def cpu_threads_default() -> int:
    """CPU threads when none are asked for: every core this process may use.

    Chosen from ``bench/inference.py`` (README, "Speed on a shared CPU"): with idle
    threads sleeping (``ort_session_options``, ``OMP_WAIT_POLICY=PASSIVE``) the work spreads
    over the cores without the collapse that spinning workers cause beside another job.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def torch_threads_default() -> int:
    """Torch CPU threads when none are asked for.

    ``cpu_threads_default()`` when torch's OpenMP workers sleep while idle
    (``OMP_WAIT_POLICY=PASSIVE``, which importing ``ladderseg_ros`` before torch sets), else 1:
    spinning workers beside another busy process made the demo network 5-30x slower at 2
    threads, and one thread has none.
    """
    import ladderseg_ros

    return cpu_threads_default() if ladderseg_ros.OPENMP_PASSIVE else 1


def ort_session_options(threads: int | None) -> ort.SessionOptions:
    """ONNX Runtime session options for ``threads`` intra-op threads.

    All graph optimizations, ``threads`` intra-op threads (None: ``cpu_threads_default()``),
    one inter-op thread, and no spin-waiting.

    Spinning workers burn the cores a competing process needs and then wait for it; on a
    shared machine they cost far more than the wake-up latency they save.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or cpu_threads_default()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _num_classes(model: onnx.ModelProto) -> int:
    """C of the ``logits`` output: its static dimension 1, else the ladderseg metadata's.

    Raises:
        BackendError: neither says.
    """
    import json

    from ladderseg_ros.inference.export import METADATA_KEY

    for output in model.graph.output:
        if output.name == "logits":
            dims = output.type.tensor_type.shape.dim
            if len(dims) == 4 and dims[1].dim_value > 0:
                return int(dims[1].dim_value)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            try:
                return len(json.loads(prop.value)["class_names"])
            except (ValueError, KeyError, TypeError):
                break
    raise BackendError("cannot tell the number of classes: logits has no static channel count")


def with_label_outputs(model: onnx.ModelProto, keep_logits: bool = True) -> onnx.ModelProto:
    """``model`` (output ``logits`` (N, C, H, W)) with label outputs added, changed in place.

    The outputs ``labels`` (N, H, W) uint8 (argmax over C; ties go to the lower channel, as
    numpy's) and ``confidence`` (N, H, W) float32 (the largest softmax probability, computed
    as ``1 / sum_c exp(l_c - max_c l)``) let the session return what the Segmenter needs
    without copying the logits out and reducing them in numpy. ``keep_logits=False`` drops
    the ``logits`` output: ONNX Runtime runs every node of a graph whatever outputs a call
    asks for, so a graph that keeps it pays for producing it.

    Both are computed plane by plane, from the logits before the export's crop of the padded
    input (the Slice nodes that end at ``logits``), and the labels and confidence are cropped
    instead: ONNX Runtime reduces over the channel axis of an NCHW tensor with strided loops
    (TopK, ReduceMax, ReduceSum: 17-35 ms each for 19x448x1024 on the shared 2-core CPU, in
    its profiler) where elementwise ops over C contiguous planes (Split, variadic Max and
    Sum, Sub, Exp, Equal, Where) took 4-9 ms per kind, and cropping one label and one
    confidence plane instead of C logit planes saves C - 2 plane copies. ``python
    bench/label_heads.py`` times the forms side by side.

    Raises:
        BackendError: the number of classes is unknown (see ``_num_classes``).
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    classes = _num_classes(model)
    producers = {out: node for node in graph.node for out in node.output}
    crop = []  # the export's crop of the padded logits, outermost first
    node = producers.get("logits")
    while node is not None and node.op_type == "Slice":
        crop.append(node)
        node = producers.get(node.input[0])
    padded = crop[-1].input[0] if crop else "logits"
    planes = [f"_logit{c}" for c in range(classes)]
    graph.initializer.append(helper.make_tensor("_axis1", TensorProto.INT64, [1], [1]))
    # the sizes as an input: valid from opset 13, required (or num_outputs) from 18
    graph.initializer.append(
        helper.make_tensor("_planes", TensorProto.INT64, [classes], [1] * classes)
    )
    graph.initializer.extend(
        numpy_helper.from_array(np.array(c, np.uint8), f"_class{c}") for c in range(classes)
    )
    nodes = [
        helper.make_node("Split", [padded, "_planes"], planes, axis=1),  # (N, 1, H', W') each
        helper.make_node("Max", planes, ["_max"]),
    ]
    for c, plane in enumerate(planes):
        nodes.append(helper.make_node("Sub", [plane, "_max"], [f"_shifted{c}"]))
        nodes.append(helper.make_node("Exp", [f"_shifted{c}"], [f"_exp{c}"]))
    nodes.append(helper.make_node("Sum", [f"_exp{c}" for c in range(classes)], ["_sum"]))
    nodes.append(helper.make_node("Reciprocal", ["_sum"], ["_confidence"]))
    # The lowest channel equal to the maximum: scanned from the highest down, each lower
    # channel that equals it replaces the label so far.
    label = f"_class{classes - 1}"
    for c in range(classes - 2, -1, -1):
        nodes.append(helper.make_node("Equal", [planes[c], "_max"], [f"_is_max{c}"]))
        nodes.append(
            helper.make_node("Where", [f"_is_max{c}", f"_class{c}", label], [f"_label{c}"])
        )
        label = f"_label{c}"
    if classes == 1:  # a scalar constant so far: give it the planes' shape
        nodes.append(helper.make_node("Equal", [planes[0], "_max"], ["_is_max0"]))
        nodes.append(helper.make_node("Where", ["_is_max0", "_class0", "_class0"], ["_label0"]))
        label = "_label0"
    for name, source in (("labels", label), ("confidence", "_confidence")):
        for i, slice_node in enumerate(reversed(crop)):  # the same crop, innermost first
            nodes.append(
                helper.make_node("Slice", [source, *slice_node.input[1:]], [f"_{name}_crop{i}"])
            )
            source = f"_{name}_crop{i}"
        nodes.append(helper.make_node("Squeeze", [source, "_axis1"], [name]))
    if not keep_logits:
        for slice_node in crop:
            graph.node.remove(slice_node)
        logits = next(output for output in graph.output if output.name == "logits")
        graph.output.remove(logits)
    graph.node.extend(nodes)
    shape = ["batch", "height", "width"]
    graph.output.extend(
        [
            helper.make_tensor_value_info("labels", TensorProto.UINT8, shape),
            helper.make_tensor_value_info("confidence", TensorProto.FLOAT, shape),
        ]
    )
    return model


@dataclass
class _ThreadTrial:
    """A size's first calls on the CPU: every core against one thread (``OnnxRuntimeBackend``)."""

    calls: int = 0
    single: ort.InferenceSession | None = None
    every_core: list[float] = field(default_factory=list)
    single_thread: list[float] = field(default_factory=list)


class OnnxRuntimeBackend:
    """ONNX Runtime sessions from the camera's bytes to labels; TensorRT engines cached on disk.

    A session is built once per camera size, network size and disparity size, with all of
    them fixed in the graph (``camera_graph.with_camera_io``: shape arithmetic folded, buffers
    planned once, the resampling tables constants), all graph optimizations on; the
    ``_SESSIONS_KEPT`` most recent keep their session. Calls that want logits get sessions of
    their own (a graph with the logits output always computes them: ``with_label_outputs``).

    Args:
        onnx_path: an exported network (``export.export_onnx``, or its int8 form).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        threads: CPU threads (None: ``cpu_threads_default``).
        cache_dir: where TensorRT engines are kept (default ``default_cache_dir()``).
        mean: per-channel normalization mean of 0..1 RGB (default: the file's metadata).
        std: per-channel standard deviation (default: the file's metadata).
        resize_in_graph: resize to and from the network's size in the graph (None: on GPU
            providers; on the CPU OpenCV does it, ``downsample_input``/``resize_nearest``).

    Threads: with ``threads`` None or 0 on the CPU provider and more than one core, a size
    whose calls 2 and 3 (``GATE_CALLS``) took less than ``ONE_THREAD_TRIAL_S`` at best on
    every core (call 2 alone decides from four times that) also gets the same session on one
    thread; the next frames alternate between
    the two (``TRIAL_CALLS`` timed each, after an untimed one) and the faster, by median, is
    kept for that size. A one-thread session that cannot be built or run ends the trial, the
    frame run on every core. The frame that builds it waits for the build (33-36 ms for
    ``ldn_tiny``); ``trying_threads`` says whether a trial is under way. A small
    network's operators are too short to share: each waits for a sleeping worker to wake
    (the sessions do not spin, ``ort_session_options``). The network trained at 64x32 that
    ``bench/node_ceiling.py`` runs on a 1024x448 camera took 1.1-1.6 ms a call on one thread
    and 1.6-1.9 ms on two (back to back), 2.6-2.8 against 3.3-3.6 ms with 15 ms of other
    work between calls, on the shared 2-core CPU; ``ldn_tiny`` at 512x256 was faster on two
    (13.4 against 15.4 ms). The outputs do not depend on the thread count (the one-thread
    session's untimed first call repeats the frame it was made on). ``session_threads``
    says what each size got.

    Raises:
        BackendError: an unknown or malformed device, or a file ONNX Runtime cannot load.
    """

    def __init__(
        self,
        onnx_path: str | Path,
        device: str = "auto",
        threads: int | None = None,
        cache_dir: Path | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        resize_in_graph: bool | None = None,
    ) -> None:
        import onnx
        import onnxruntime as ort

        device_id = cuda_device_id(check_device(device))
        available = ort.get_available_providers()
        providers = select_providers("cpu" if device == "cpu" else "cuda", available)
        self._threads = threads
        engine_dir = (cache_dir or default_cache_dir()) / "trt"
        if "TensorrtExecutionProvider" in providers:
            from ladderseg_ros.inference.cache import cache_folder

            engine_dir = cache_folder("trt", cache_dir)  # a private one if that is read-only
        self._providers = provider_options(providers, device_id, engine_dir)
        self._engine_dir = engine_dir
        self._try_one_thread = (
            not threads and providers[0] == "CPUExecutionProvider" and cpu_threads_default() > 1
        )
        self._path = Path(onnx_path)
        try:
            # One read of the file: a session built later must run the same model even if
            # the file has been replaced or removed meanwhile.
            self._proto = onnx.load(str(onnx_path))
        except Exception as exc:
            raise BackendError(f"{onnx_path}: ONNX Runtime cannot load it ({exc})") from exc
        from ladderseg_ros.inference.export import camera_graph_problem

        problem = camera_graph_problem(self._proto, onnx_path)
        if problem is not None:
            raise BackendError(problem)
        if mean is None or std is None:
            mean, std = self._normalization()
        self._mean, self._std = tuple(mean), tuple(std)
        on_cpu = providers[0] == "CPUExecutionProvider"
        self._resize_here = (not resize_in_graph) if resize_in_graph is not None else on_cpu
        inputs = {i.name for i in self._proto.graph.input}
        try:
            probe = self._new_session(self._probe_key(inputs))
        except Exception as exc:
            raise BackendError(f"{onnx_path}: ONNX Runtime cannot load it ({exc})") from exc
        used = probe.get_providers()
        warning = cpu_fallback_warning(device, available, used)
        if warning is not None:
            _LOG.warning("%s", warning)
        self.uses_disparity = "disparity" in inputs
        self._sessions: dict[_SessionKey, ort.InferenceSession] = {}
        self._trials: dict[_SessionKey, _ThreadTrial] = {}
        self.name = f"onnxruntime:{used[0]}"
        if used[0] == "CPUExecutionProvider":
            reuse_freed_memory()  # camera-sized outputs and messages: no fresh pages per frame

    def _probe_key(self, inputs: set[str]) -> _SessionKey:
        """A small session that checks the file loads and which providers run it."""
        return ((64, 64), (64, 64), (64, 64) if "disparity" in inputs else None, False, True)

    def _normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        import json

        from ladderseg_ros.inference.export import METADATA_KEY

        for prop in self._proto.metadata_props:
            if prop.key == METADATA_KEY:
                try:
                    meta = json.loads(prop.value)
                    return tuple(meta["mean"]), tuple(meta["std"])
                except (ValueError, KeyError, TypeError):
                    break
        raise BackendError(f"{self._path}: no normalization in its metadata: pass mean and std")

    def _new_session(self, key: _SessionKey, threads: int | None = None) -> ort.InferenceSession:
        """A session for ``key`` on ``threads`` CPU threads (None: the backend's)."""
        import onnxruntime as ort

        from ladderseg_ros.inference.camera_graph import camera_model

        camera, network, disparity, logits, confidence = key
        model = camera_model(
            self._proto, camera, network, self._mean, self._std, disparity, confidence, logits
        )
        options = ort_session_options(threads or self._threads)
        return ort.InferenceSession(model.SerializeToString(), options, providers=self._providers)

    def session_threads(self) -> dict[_SessionKey, int]:
        """The CPU threads of each live session, by its key (see ``session_for``)."""
        return {
            key: session.get_session_options().intra_op_num_threads
            for key, session in self._sessions.items()
        }

    def session_for(self, key: _SessionKey) -> ort.InferenceSession:
        """The session for ``key``: camera, network, disparity (width, height), logits, confidence.

        Building one logs one INFO line naming its sizes (on a GPU with TensorRT it is an
        engine build: minutes the first time).

        Raises:
            BackendError: ONNX Runtime cannot build a session for it.
        """
        session = self._sessions.pop(key, None)
        if session is None:
            camera, network, disparity, _, confidence = key
            _LOG.info(
                "%s: building a session for images of %dx%d, network %dx%d%s%s%s",
                self.name,
                *camera,
                *network,
                f", disparity {disparity[0]}x{disparity[1]}" if disparity else "",
                ", confidence" if confidence else "",
                " (a TensorRT engine: minutes the first time, then cached under "
                f"{self._engine_dir})"
                if self.name.endswith("TensorrtExecutionProvider")
                else "",
            )
            try:
                session = self._new_session(key)
            except Exception as exc:
                raise BackendError(
                    f"{self._path}: no session for input {key[0]}, network {key[1]} ({exc})"
                ) from exc
            if len(self._sessions) >= _SESSIONS_KEPT:
                oldest = next(iter(self._sessions))
                del self._sessions[oldest]
                self._trials.pop(oldest, None)
            if self._try_one_thread:
                self._trials[key] = _ThreadTrial()
        self._sessions[key] = session  # most recent last
        return session

    @property
    def trying_threads(self) -> bool:
        """Whether a size's thread trial is under way (see the class)."""
        return bool(self._trials)

    def _run_session(
        self, key: _SessionKey, names: list[str], feed: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        """``names`` of the session for ``key`` on ``feed``; a thread trial's next step."""
        session = self.session_for(key)
        trial = self._trials.get(key)
        if trial is None:
            return session.run(names, feed)
        if trial.calls == 0:  # untimed: a new session's first call sets itself up
            trial.calls = 1
            return session.run(names, feed)
        if trial.single is None:
            outputs, seconds = self._timed_run(session, names, feed)
            trial.every_core.append(seconds)
            if seconds >= 4 * ONE_THREAD_TRIAL_S or (
                len(trial.every_core) == GATE_CALLS and min(trial.every_core) >= ONE_THREAD_TRIAL_S
            ):
                del self._trials[key]  # a network worth every core
                return outputs
            if len(trial.every_core) < GATE_CALLS:
                return outputs
            try:
                trial.single = self._new_session(key, 1)
                trial.single.run(names, feed)  # its untimed first call
            except Exception as exc:  # memory, say: the session that works is kept
                self._end_trial(key, exc)
            return outputs
        on_one = len(trial.single_thread) < len(trial.every_core) - GATE_CALLS
        try:
            outputs, seconds = self._timed_run(trial.single if on_one else session, names, feed)
        except Exception as exc:
            if not on_one:
                raise
            self._end_trial(key, exc)
            return session.run(names, feed)
        (trial.single_thread if on_one else trial.every_core).append(seconds)
        if min(len(trial.every_core) - GATE_CALLS, len(trial.single_thread)) >= TRIAL_CALLS:
            del self._trials[key]
            one = np.median(trial.single_thread)
            every = np.median(trial.every_core[GATE_CALLS:])
            threads = session.get_session_options().intra_op_num_threads
            if one < every:
                self._sessions[key] = trial.single
                threads = 1
            _LOG.info(
                "input %dx%d, network %dx%d: %d CPU thread(s) kept (%.2f ms a call on one, "
                "%.2f ms on every core)",
                *key[0],
                *key[1],
                threads,
                one * 1e3,
                every * 1e3,
            )
        return outputs

    def _end_trial(self, key: _SessionKey, exc: Exception) -> None:
        """Give a size's trial up: its one-thread session failed; every core is kept."""
        del self._trials[key]
        _LOG.warning("no one-thread session for network %dx%d (%s)", *key[1], exc)

    def _timed_run(
        self, session: ort.InferenceSession, names: list[str], feed: dict[str, np.ndarray]
    ) -> tuple[list[np.ndarray], float]:
        """``session.run(names, feed)`` and the seconds it took."""
        start = time.perf_counter()
        outputs = session.run(names, feed)
        return outputs, time.perf_counter() - start

    def run(
        self,
        camera: np.ndarray,
        network_size: tuple[int, int],
        disparity: np.ndarray | None,
        baseline: float | None,
        want_logits: bool,
        want_confidence: bool = True,
    ) -> BackendOutput:
        """Runs the session for these sizes (``Backend.run``).

        Raises:
            BackendError: no session can be built for these sizes.
        """
        height, width = camera.shape[:2]
        resize_here = self._resize_here and (width, height) != tuple(network_size)
        if resize_here:  # OpenCV measured faster than the graph's resampling on the CPU
            camera = downsample_input(camera, network_size)
        feed = {"camera": camera[None]}
        disparity_size = None
        if self.uses_disparity and disparity is not None and baseline is not None:
            feed["disparity"] = np.ascontiguousarray(disparity, np.float32)[None, None]
            feed["baseline"] = np.asarray([baseline], np.float32)
            disparity_size = (disparity.shape[1], disparity.shape[0])
        size = (camera.shape[1], camera.shape[0])
        key = (size, tuple(network_size), disparity_size, want_logits, want_confidence)
        names = ["labels", "confidence"] if want_confidence else ["labels"]
        names += ["logits"] if want_logits else []
        in_graph = not resize_here and size != tuple(network_size)
        names += ["network_labels"] if in_graph else []
        outputs = self._run_session(key, names, feed)  # type: ignore[arg-type]
        labels = outputs.pop(0)[0, 0]
        confidence = outputs.pop(0)[0, 0] if want_confidence else None
        logits = outputs.pop(0)[0] if want_logits else None
        if not resize_here:
            return BackendOutput(labels, confidence, logits, outputs[0][0] if in_graph else None)
        small_labels = labels
        labels = resize_nearest(labels, (width, height))
        return BackendOutput(labels, confidence, logits, small_labels)  # see BackendOutput
