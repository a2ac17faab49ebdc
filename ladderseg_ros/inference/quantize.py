"""int8 ONNX models: ONNX Runtime static quantization calibrated on synthetic frames.

QDQ format (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses into integer
kernels), int8 weights with one scale per output channel, uint8 activations with per-tensor
scales from the min/max seen on calibration frames (ONNX Runtime's
``onnxruntime.quantization.quantize_static``; the U8S8 pairing its x86 kernels run fastest,
with AVX-512 VNNI where the CPU has it). The model is first pre-processed (shape inference,
batch norms that follow a convolution folded into it), then rewritten so that a ladder
DenseNet runs in integers from one convolution to the next (``integer_friendly``): each
remaining (pre-activation) batch norm becomes the depthwise 1x1 convolution it equals, and
each 2x2 stride-2 average pool (of known channel count) the depthwise 2x2 convolution with
weights 1/4.
Convolutions, ReLUs, concatenations, additions and max pools are then quantized: ONNX
Runtime fuses them into integer kernels (each ReLU into the zero point of the convolution
before it) in channels-last layout, so the float batch norms, the (de)quantization passes
over the wide concatenated feature maps and the layout transposes around every convolution
are gone (README's speed table, from ``bench/inference.py``, has the figures). Resizes and
the label heads stay float. Calibration frames come from the package's synthetic stereo
world (validation seeds), preprocessed exactly as the Segmenter does, with SGBM disparity as
the node computes it; the test seeds stay held out for measuring accuracy
(``bench/int8_accuracy.py``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import atomic_output
from ladderseg_ros.weights import WeightsMetadata

if TYPE_CHECKING:
    import onnx

_LOG = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The root logger at WARNING or above for the block.

    ONNX Runtime's quantizer logs an INFO line per bias tensor through the root logger
    (``export --int8`` printed about 20 of them), which says nothing to a user.
    """
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


PRECISION_KEY = "ladderseg_precision"
DEFAULT_CALIBRATION_FRAMES = 16


class QuantizeError(LadderSegError):
    """An ONNX model could not be quantized."""


@contextlib.contextmanager
def _library_temporaries_in(folder: str) -> Iterator[None]:
    """Temporary files and folders made meanwhile go inside ``folder`` (removed with it).

    ONNX Runtime's quantization tools make folders of their own ("pre.quant.", "ort.quant."),
    left behind when a signal lands between their ``mkdtemp`` and their clean-up (seen under
    load: SIGTERM to ``export --int8``).
    """
    previous = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield
    finally:
        tempfile.tempdir = previous


def calibration_feeds(
    metadata: WeightsMetadata, size: tuple[int, int], count: int, first_seed: int | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Network inputs of ``count`` synthetic frames at ``size`` (width, height).

    Yields:
        ``{"image": (1, 3, H, W) float32}`` normalized with the weights' mean/std, plus
        ``disparity`` (1, 1, H, W) float32 (SGBM, pixels) and ``baseline`` (1,) float32
        (metres) for models that select scales.
    """
    from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS, render_frame
    from ladderseg_ros.data.synthetic_dataset import sgbm_num_disparities
    from ladderseg_ros.stereo import SgbmConfig, compute_disparity

    rig = KITTI_RIG.resized(*size)
    sgbm = SgbmConfig(num_disparities=sgbm_num_disparities(rig))
    mean = np.asarray(metadata.mean, np.float32) * 255.0
    std = np.asarray(metadata.std, np.float32) * 255.0
    start = SPLIT_SEEDS["val"].start if first_seed is None else first_seed
    for seed in range(start, start + count):
        frame = render_frame(seed, rig)
        image = ((frame.left.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
        feed = {"image": np.ascontiguousarray(image)}
        if metadata.model.uses_disparity:
            disparity = compute_disparity(frame.left, frame.right, sgbm)
            feed["disparity"] = disparity[None, None].astype(np.float32)
            feed["baseline"] = np.asarray([rig.baseline], np.float32)
        yield feed


def integer_friendly(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its batch norms and 2x2 average pools as the convolutions they equal.

    A batch norm in inference mode on an (N, C, H, W) tensor is ``a * x + b`` per channel
    (``a = scale / sqrt(var + eps)``, ``b = bias - mean * a``): a depthwise 1x1 convolution with
    weight ``a`` and bias ``b``. A 2x2 average pool with stride 2 and no padding is a depthwise
    2x2 convolution with stride 2 and weights 1/4. Both rewrites are exact up to float
    rounding (outputs differ by about 1e-7 relative, which can flip a near-tie); they let
    the quantizer put these ops in the integer domain, where ONNX Runtime has channels-last
    kernels for convolutions and no batch norm or fast average pool.

    Args:
        model: a pre-processed float model (``quant_pre_process``: the batch norms that
            follow a convolution are already folded into it). Changed in place.

    Returns:
        ``model``. Batch norms in training mode, on inputs that are not 4-D or with
        parameters that are not constants, and other pools (padded, ceil mode, other sizes,
        unknown channel count) are left as they are.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [
            d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim
        ]
        for v in [*inferred.graph.value_info, *inferred.graph.input]
        if v.type.tensor_type.HasField("shape")
    }
    constants = {t.name: t for t in graph.initializer}
    replaced: set[str] = set()  # parameters of the batch norms rewritten
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        name = node.name or node.output[0]
        shape = shapes.get(node.input[0], []) if node.input else []  # Constant: no input
        four_d = len(shape) == 4
        if (
            node.op_type == "BatchNormalization"
            and four_d
            and not attrs.get("training_mode", 0)
            and len(node.output) == 1
            and all(i in constants for i in node.input[1:5])
        ):
            gamma, beta, mean, var = (
                numpy_helper.to_array(constants[i]).astype(np.float64) for i in node.input[1:5]
            )
            replaced.update(node.input[1:5])
            a = gamma / np.sqrt(var + attrs.get("epsilon", 1e-5))
            b = beta - mean * a
            channels = a.shape[0]
            weight, bias = f"{name}/depthwise_weight", f"{name}/depthwise_bias"
            graph.initializer.extend(
                [
                    numpy_helper.from_array(
                        a.reshape(channels, 1, 1, 1).astype(np.float32), weight
                    ),
                    numpy_helper.from_array(b.astype(np.float32), bias),
                ]
            )
            nodes.append(
                helper.make_node(
                    "Conv",
                    [node.input[0], weight, bias],
                    list(node.output),
                    name=f"{name}/depthwise",
                    group=channels,
                    kernel_shape=[1, 1],
                )
            )
        elif (
            node.op_type == "AveragePool"
            and four_d
            and attrs.get("kernel_shape") == [2, 2]
            and attrs.get("strides") == [2, 2]
            and not any(attrs.get("pads", []))
            and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", b"VALID", "NOTSET", "VALID")
            and not attrs.get("ceil_mode", 0)
            and shape[1]
        ):
            channels = shape[1]
            weight = f"{name}/depthwise_weight"
            graph.initializer.append(
                numpy_helper.from_array(np.full((channels, 1, 2, 2), 0.25, np.float32), weight)
            )
            nodes.append(
                helper.make_node(
                    "Conv",
                    [node.input[0], weight],
                    list(node.output),
                    name=f"{name}/depthwise",
                    group=channels,
                    kernel_shape=[2, 2],
                    strides=[2, 2],
                )
            )
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    # the rewritten batch norms' parameters that nothing else reads (ONNX Runtime would warn
    # about each one); anything a subgraph, an output or a graph input names stays
    used = _names_read(graph) | {v.name for v in [*graph.output, *graph.input]}
    kept = [t for t in graph.initializer if t.name not in replaced or t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name the nodes of ``graph`` and of its subgraphs (If, Loop, Scan) read."""
    from onnx import AttributeProto

    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                names |= _names_read(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    names |= _names_read(sub)
    return names


@functools.cache
def calibration_revision() -> str:
    """16 hex digits naming what an int8 model's calibration depends on beyond the graph.

    The SHA-256 of the sources that make the calibration frames (the synthetic world,
    ``data.synthetic_dataset`` and ``stereo``'s SGBM) and of ONNX Runtime's version (its
    quantizer and the kernels it fuses into). Cached int8 files carry it in their names
    (``Segmenter.from_weights``), so changing any of these calibrates afresh.
    """
    import onnxruntime

    from ladderseg_ros import stereo
    from ladderseg_ros.data import synthetic, synthetic_dataset
    from ladderseg_ros.inference.export import sources_digest

    files = sorted(Path(synthetic.__file__).parent.glob("*.py"))
    files += [Path(synthetic_dataset.__file__), Path(stereo.__file__)]
    return sources_digest(files, salt=f"onnxruntime {onnxruntime.__version__}")


def onnx_precision(path: str | Path) -> str:
    """``int8`` for a file written by ``quantize_int8``, else ``fp32``."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    return props.get(PRECISION_KEY, "fp32")


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    metadata: WeightsMetadata,
    size: tuple[int, int],
    frames: int = DEFAULT_CALIBRATION_FRAMES,
) -> Path:
    """Writes the int8 QDQ model of ``fp32_path`` to ``out_path`` (atomically, replacing it).

    Args:
        fp32_path: a float32 model from ``export_onnx`` (metadata embedded).
        out_path: output ``.onnx``; keeps the metadata and records ``int8``.
        metadata: the weights' metadata (normalization, whether disparity is an input).
        size: (width, height) of the calibration frames; use the size the model will run at.
        frames: number of calibration frames (validation seeds of the synthetic world).

    Returns:
        ``out_path`` as a ``Path``: inputs and outputs as ``fp32_path``'s (float32 at the
        boundary), convolutions int8 inside.

    Raises:
        QuantizeError: ``frames`` < 1 or ONNX Runtime's quantizer failed.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if frames < 1:
        raise QuantizeError(f"calibration needs at least 1 frame, got {frames}")
    if onnx_precision(fp32_path) == "int8":
        raise QuantizeError(f"{fp32_path} is already int8: quantize its float32 model")
    out_path = Path(out_path)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = calibration_feeds(metadata, size, frames)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    with (
        atomic_output(out_path, overwrite=True, suffix=".onnx") as tmp,
        tempfile.TemporaryDirectory() as work,
        _library_temporaries_in(work),
    ):
        try:
            prepared = Path(work) / "prepared.onnx"
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            onnx.save(integer_friendly(onnx.load(str(prepared))), str(prepared))
            with _quiet_root_logger():  # it logs a line per bias tensor to the root logger
                quantize_static(
                    str(prepared),
                    str(tmp),
                    _Reader(),
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv", "Relu", "Concat", "Add", "MaxPool"],
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
                )
        except Exception as exc:
            raise QuantizeError(f"{fp32_path}: int8 quantization failed ({exc})") from exc
        proto = onnx.load(str(tmp))
        source = {p.key: p.value for p in onnx.load(str(fp32_path)).metadata_props}
        del proto.metadata_props[:]
        for key, value in {**source, PRECISION_KEY: "int8"}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
    _LOG.info("int8 model %s (%d calibration frames at %dx%d)", out_path, frames, *size)
    return out_path
