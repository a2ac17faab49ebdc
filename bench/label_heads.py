"""Labels and confidence from logits: the four ways this package has computed them, side by side.

The ONNX Runtime backend appends the reduction of the logits (N, C, H, W) to labels (argmax
over C) and confidence (largest softmax probability) to the exported graph
(``inference.backends.with_label_outputs``). This times, on the same random logits and in one
run, interleaved round by round:

- ``softmax``: ArgMax + Softmax(axis=1) + ReduceMax, the first in-graph form;
- ``reductions``: ArgMax + ReduceMax/Sub/Exp/ReduceSum/Reciprocal, ``1 / sum exp(l - max
  l)`` (the same value), the second form;
- ``topk``: TopK (k=1) for the largest logit and its channel in one pass, then
  Sub/Exp/ReduceSum/Reciprocal, the third form;
- ``in-graph``: the form the backend uses now: the logits split into C planes, then
  elementwise ops over planes (variadic Max and Sum, Sub/Exp, Equal/Where for the lowest
  channel holding the maximum), no reduction over the channel axis;
- ``numpy``: logits copied out of the session and reduced in numpy.

    .venv/bin/python bench/label_heads.py --size 640x192 --classes 19 --rounds 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ladderseg_ros.inference.backends import ort_session_options, with_label_outputs


def _identity_model(classes: int, opset: int) -> object:
    from onnx import TensorProto, helper

    logits = helper.make_tensor_value_info("raw", TensorProto.FLOAT, [1, classes, None, None])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, None, None])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["raw"], ["logits"])], "heads", [logits], [out]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _heads(model: object, nodes: list[object], labels_type: int) -> object:
    """``model`` with ``nodes`` appended and their ``labels`` and ``confidence`` as outputs."""
    from onnx import TensorProto, helper

    used = {name for node in nodes for name in node.input}
    model.graph.initializer.extend(
        helper.make_tensor(name, TensorProto.INT64, [1], [1])
        for name in ("_axis1", "_k1")
        if name in used
    )
    model.graph.node.extend(nodes)
    model.graph.output.extend(
        [
            helper.make_tensor_value_info("labels", labels_type, None),
            helper.make_tensor_value_info("confidence", TensorProto.FLOAT, None),
        ]
    )
    return model


def _confidence_nodes() -> list[object]:
    """``1 / sum_c exp(l_c - max)`` from ``logits`` and ``_max`` (N, 1, H, W)."""
    from onnx import helper

    return [
        helper.make_node("Sub", ["logits", "_max"], ["_shifted"]),
        helper.make_node("Exp", ["_shifted"], ["_exp"]),
        helper.make_node("ReduceSum", ["_exp", "_axis1"], ["_sum"], keepdims=0),
        helper.make_node("Reciprocal", ["_sum"], ["confidence"]),
    ]


def _softmax_heads(model: object) -> object:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ArgMax", ["logits"], ["labels"], axis=1, keepdims=0),
        helper.make_node("Softmax", ["logits"], ["_prob"], axis=1),
        helper.make_node("ReduceMax", ["_prob"], ["confidence"], axes=[1], keepdims=0),
    ]
    return _heads(model, nodes, TensorProto.INT64)


def _reduction_heads(model: object) -> object:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ArgMax", ["logits"], ["_argmax"], axis=1, keepdims=0),
        helper.make_node("Cast", ["_argmax"], ["labels"], to=TensorProto.UINT8),
        helper.make_node("ReduceMax", ["logits"], ["_max"], axes=[1], keepdims=1),
    ]
    return _heads(model, nodes + _confidence_nodes(), TensorProto.UINT8)


def _topk_heads(model: object) -> object:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("TopK", ["logits", "_k1"], ["_max", "_top"], axis=1),
        helper.make_node("Squeeze", ["_top", "_axis1"], ["_argmax"]),
        helper.make_node("Cast", ["_argmax"], ["labels"], to=TensorProto.UINT8),
    ]
    return _heads(model, nodes + _confidence_nodes(), TensorProto.UINT8)


def main(argv: list[str] | None = None) -> int:
    """Prints ms per frame (median, min) of each form and its ratio to the in-graph form."""
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x192", help="WIDTHxHEIGHT of the logits")
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the library's)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    options = ort_session_options(args.threads)
    sessions = {
        "softmax": _softmax_heads(_identity_model(args.classes, 17)),
        "reductions": _reduction_heads(_identity_model(args.classes, 17)),
        "topk": _topk_heads(_identity_model(args.classes, 17)),
        "in-graph": with_label_outputs(_identity_model(args.classes, 17), keep_logits=False),
    }
    sessions = {
        k: ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for k, m in sessions.items()
    }
    logits = np.random.default_rng(0).standard_normal(
        (1, args.classes, height, width), dtype=np.float32
    )
    plain = ort.InferenceSession(
        _identity_model(args.classes, 17).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )

    def numpy_heads() -> None:
        out = plain.run(["logits"], {"raw": logits})[0][0]
        out.argmax(0).astype(np.uint8)
        1.0 / np.exp(out - out.max(0)).sum(0)

    steps = {
        k: (lambda s=s: s.run(["labels", "confidence"], {"raw": logits}))
        for k, s in sessions.items()
    }
    steps["numpy"] = numpy_heads
    times: dict[str, list[float]] = {k: [] for k in steps}
    reference_labels, reference_confidence = steps["in-graph"]()
    for name, step in steps.items():  # warm-up, and every form gives the same result
        if name == "numpy":
            step()
            continue
        labels, confidence = step()
        if not np.array_equal(labels.astype(np.uint8), reference_labels) or not np.allclose(
            confidence, reference_confidence, rtol=1e-5
        ):
            raise SystemExit(f"{name}: labels or confidence differ from the in-graph form's")
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1e3)
    reference = statistics.median(times["in-graph"])
    print(f"logits 1x{args.classes}x{height}x{width}, {args.rounds} rounds interleaved")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:>10}: {median:7.1f} ms median, {min(values):7.1f} min, "
            f"{median / reference:5.2f}x in-graph"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
