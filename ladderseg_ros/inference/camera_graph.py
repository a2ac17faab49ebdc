"""One ONNX graph from the camera's bytes to labels at the camera's size.

``with_camera_io`` wraps an exported network (input ``image``, normalized (1, 3, h, w)
float32 at the network's size; output ``logits``) so that ONNX Runtime -- on a GPU, the
GPU -- does every per-pixel step: the camera's (1, H, W, 3) uint8 RGB image is resized to the
network's size as OpenCV's ``INTER_AREA`` (``INTER_LINEAR`` where it grows) would
(``inference.resample``), rounded to whole grey levels as OpenCV's uint8 result is,
normalized, segmented, and the labels (nearest, gathered as ``INTER_NEAREST``) and confidence
(bilinear, as ``INTER_LINEAR``) are resized back to (H, W). A scale-selection network's
disparity comes at any size, in pixels of its own width, and is resized (nearest) and
rescaled to the network's size inside the graph.

A graph is built for one camera size, network size and disparity size (all static: ONNX
Runtime folds the shape arithmetic and plans its buffers once); the resampling tables are
constants in it. ``camera_model`` builds the graph the ONNX Runtime backend runs;
``ladderseg export --camera`` writes the same graph to a file for ONNX Runtime or TensorRT
elsewhere (``export.write_camera_graph``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.inference.resample import (
    AxisResample,
    axis_resample,
    integer_area,
    nearest_index,
)

if TYPE_CHECKING:
    import onnx


class _Builder:
    """Nodes and constants appended under unique names."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"_{self.prefix}_{hint}{self._count}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: Sequence[str], output: str | None = None, **attrs: object
    ) -> str:
        from onnx import helper

        out = output or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def resize(self, x: str, sizes: Sequence[int], output: str | None = None) -> str:
        """Bilinear ``Resize`` of an (N, C, h, w) tensor to ``sizes``, as ``INTER_LINEAR``."""
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
        sizes_name = self.const(np.asarray(sizes, np.int64), "sizes")
        return self.op("Resize", [x, "", "", sizes_name], output, **attrs)

    def nearest(
        self, x: str, source: tuple[int, int], target: tuple[int, int], output: str | None = None
    ) -> str:
        """An (N, C, h, w) tensor of ``source`` = (h, w) at ``target`` = (H, W), nearest.

        Gathers by ``resample.nearest_index`` (OpenCV's ``INTER_NEAREST`` exactly; ONNX
        Runtime's nearest ``Resize`` computes the source index in float32 and lands a pixel
        short at some exact positions: 28 of 256 for 480 -> 256).
        """
        rows = self.op(
            "Gather", [x, self.const(nearest_index(source[0], target[0]), "rows")], axis=2
        )
        cols = self.const(nearest_index(source[1], target[1]), "cols")
        return self.op("Gather", [rows, cols], output, axis=3)

    def resample(self, x: str, axis: int, rank: int, table: AxisResample) -> str:
        """``x`` resampled along ``axis`` (``inference.resample``'s tables)."""
        if table.kind == "copy":
            return x
        shape = [1] * rank
        shape[axis] = table.n_out

        def gather(source: str, index: np.ndarray) -> str:
            return self.op("Gather", [source, self.const(index, "index")], axis=axis)

        def weighted(source: str, k: int) -> str:
            weight = self.const(table.weight[k].reshape(shape), "weight")
            return self.op("Mul", [gather(source, table.index[k]), weight])

        if table.kind == "linear":
            return self.op("Add", [weighted(x, 0), weighted(x, 1)])
        axis_name = self.const(np.asarray(axis, np.int64), "axis")
        prefix = self.op("CumSum", [x, axis_name], exclusive=1)
        cells = self.op("Sub", [gather(prefix, table.index[1]), gather(prefix, table.index[0])])
        cells = self.op("Mul", [cells, self.const(np.asarray(table.scale, np.float32), "s")])
        return self.op("Sub", [self.op("Add", [cells, weighted(x, 1)]), weighted(x, 0)])


def _rounded(builder: _Builder, x: str, rows: AxisResample, cols: AxisResample) -> str:
    """Whole grey levels, rounded as OpenCV rounds its uint8 result.

    Halves up where both axes shrink by whole factors (its integer path), else to even.
    """
    if integer_area(rows, cols):
        return builder.op("Floor", [builder.op("Add", [x, builder.const(np.float32(0.5))])])
    return builder.op("Round", [x])


def _rename_input(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _rename_output(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


def camera_model(
    network_graph: onnx.ModelProto,
    camera: tuple[int, int],
    network: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    disparity: tuple[int, int] | None = None,
    confidence: bool = True,
    logits: bool = False,
) -> onnx.ModelProto:
    """The graph from the camera's bytes to camera-sized labels, for one camera size.

    A copy of ``network_graph`` (``export.export_onnx``, or its int8 form: input ``image``,
    output ``logits``) with the label outputs (``backends.with_label_outputs``) and the
    camera-sized input and outputs (``with_camera_io``, whose docstring gives the inputs and
    outputs) added. ``network_graph`` is not changed.

    Raises:
        BackendError: the number of classes is unknown.
        ValueError: a scale-selection network without ``disparity``.
    """
    import onnx

    from ladderseg_ros.inference.backends import with_label_outputs

    model = onnx.ModelProto()
    model.CopyFrom(network_graph)
    with_label_outputs(model, keep_logits=logits)
    return with_camera_io(model, camera, network, mean, std, disparity, confidence)


def with_camera_io(
    model: onnx.ModelProto,
    camera: tuple[int, int],
    network: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    disparity: tuple[int, int] | None = None,
    confidence: bool = True,
) -> onnx.ModelProto:
    """``model`` with camera-sized uint8 input and camera-sized labels, changed in place.

    Args:
        model: a graph with input ``image`` (N, 3, h, w) float32 normalized [, ``disparity``
            (N, 1, h, w) px, ``baseline`` (N,) m] and outputs ``labels`` and ``confidence``
            (N, h, w) (``backends.with_label_outputs``) [and ``logits``].
        camera: (width, height) W, H of the camera image.
        network: (width, height) w, h the network runs at.
        mean: per-channel mean of 0..1 RGB (the weights' normalization).
        std: per-channel standard deviation of 0..1 RGB.
        disparity: (width, height) of the disparity given, or None (a plain network).
        confidence: keep the ``confidence`` output (False: its nodes are never run).

    Returns:
        ``model`` with inputs ``camera`` (1, H, W, 3) uint8 RGB [, ``disparity`` (1, 1, hd,
        wd) float32 pixels of its own width, 0 = invalid, ``baseline`` (1,) float32 m] and
        outputs ``labels`` (1, 1, H, W) uint8 [, ``confidence`` (1, 1, H, W) float32] [,
        ``logits`` (1, C, h, w) float32 at the network's size] [, ``network_labels`` (1, h,
        w) uint8, the labels before their resize, where the sizes differ: per-label maps such
        as palette colours are made from them at the network's size].
    """
    from onnx import TensorProto, helper

    graph = model.graph
    (cam_w, cam_h), (net_w, net_h) = camera, network
    inputs = {i.name: i for i in graph.input}
    pre, post = _Builder("pre"), _Builder("post")
    # camera (1, H, W, 3) uint8 -> image (1, 3, h, w) normalized
    x = pre.op("Cast", ["camera"], to=TensorProto.FLOAT)
    rows, cols = axis_resample(cam_h, net_h), axis_resample(cam_w, net_w)
    mean_255 = np.asarray(mean, np.float32).reshape(1, 3, 1, 1) * 255.0
    scale = 1.0 / (np.asarray(std, np.float32).reshape(1, 3, 1, 1) * 255.0)
    if rows.kind != "copy" or cols.kind != "copy":
        x = pre.resample(x, 1, 4, rows)  # rows first: whole rows are gathered
        x = pre.resample(x, 2, 4, cols)
        x = _rounded(pre, x, rows, cols)
    x = pre.op("Transpose", [x], perm=[0, 3, 1, 2])
    x = pre.op("Sub", [x, pre.const(mean_255, "mean")])
    pre.op("Mul", [x, pre.const(scale.astype(np.float32), "scale")], output="image")
    new_inputs = [helper.make_tensor_value_info("camera", TensorProto.UINT8, [1, cam_h, cam_w, 3])]
    if "disparity" in inputs:
        if disparity is None:
            raise ValueError("this network selects scales: the disparity size is needed")
        disp_w, disp_h = disparity
        new_inputs.append(
            helper.make_tensor_value_info("disparity", TensorProto.FLOAT, [1, 1, disp_h, disp_w])
        )
        new_inputs.append(helper.make_tensor_value_info("baseline", TensorProto.FLOAT, [1]))
        if (disp_w, disp_h) != (net_w, net_h):
            _rename_input(graph, "disparity", "_disparity_net")
            d = pre.nearest("disparity", (disp_h, disp_w), (net_h, net_w))
            ratio = pre.const(np.float32(net_w / disp_w), "ratio")
            pre.op("Mul", [d, ratio], output="_disparity_net")
    # labels, confidence (1, h, w) -> (1, 1, H, W)
    kinds = {"labels": ("nearest", TensorProto.UINT8), "confidence": ("linear", TensorProto.FLOAT)}
    if not confidence:
        del kinds["confidence"]
    for value in [o for o in graph.output if o.name in ("labels", "confidence")]:
        graph.output.remove(value)
    for name, (mode, dtype) in kinds.items():
        source = post.name(name)
        _rename_output(graph, name, source)
        _rename_input(graph, name, source)
        axis = post.const(np.asarray([1], np.int64), "axes")
        if (cam_w, cam_h) != (net_w, net_h):
            planar = post.op("Unsqueeze", [source, axis])
            if mode == "nearest":
                post.nearest(planar, (net_h, net_w), (cam_h, cam_w), output=name)
            else:
                post.resize(planar, [1, 1, cam_h, cam_w], output=name)
        else:
            post.op("Unsqueeze", [source, axis], output=name)
        graph.output.append(helper.make_tensor_value_info(name, dtype, [1, 1, cam_h, cam_w]))
        if name == "labels" and (cam_w, cam_h) != (net_w, net_h):  # colours are made from them
            post.op("Identity", [source], output="network_labels")
            graph.output.append(
                helper.make_tensor_value_info("network_labels", dtype, [1, net_h, net_w])
            )
    kept = [i for i in graph.input if i.name not in ("image", "disparity", "baseline")]
    del graph.input[:]
    graph.input.extend(new_inputs + kept)
    nodes = [*pre.nodes, *graph.node, *post.nodes]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(pre.constants + post.constants)
    return model


def uint8_at_io_only(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with uint8 only at its inputs and outputs, changed in place (same values).

    TensorRT takes uint8 only as a network's input or output, converted from or to float
    (onnx-tensorrt ``docs/operators.md``: its ``Where``, ``Gather``, ``Slice``, ``Squeeze``,
    ``Unsqueeze`` and ``Identity`` take no uint8). The label constants ``Where`` picks from
    (``backends.with_label_outputs``) become float32, so the labels are float32 whole
    numbers up to each uint8 output, which a ``Cast`` makes uint8 (exactly: trainIds are
    below 256). Quantization zero points (uint8 in an int8 model) are left as they are.

    Returns:
        ``model``; every uint8 output is the ``Cast`` of a float32 tensor.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    picked = {name for node in graph.node if node.op_type == "Where" for name in node.input[1:]}
    for i, init in enumerate(graph.initializer):
        if init.name in picked and init.data_type == TensorProto.UINT8:
            value = numpy_helper.to_array(init).astype(np.float32)
            graph.initializer[i].CopyFrom(numpy_helper.from_array(value, init.name))
    for value in [v for v in graph.value_info if v.type.tensor_type.elem_type == TensorProto.UINT8]:
        graph.value_info.remove(value)
    casts = []
    for output in graph.output:
        if output.type.tensor_type.elem_type != TensorProto.UINT8:
            continue
        source = f"_{output.name}_float"
        _rename_output(graph, output.name, source)
        _rename_input(graph, output.name, source)
        casts.append(helper.make_node("Cast", [source], [output.name], to=TensorProto.UINT8))
    graph.node.extend(casts)
    return model
