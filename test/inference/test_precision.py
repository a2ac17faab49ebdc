"""Precision and CPU settings: int8 models, ONNX Runtime sessions per shape, thread defaults."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from ladderseg_ros.inference import Segmenter, SegmenterError
from ladderseg_ros.inference import backends as backends_module
from ladderseg_ros.inference.backends import (
    OnnxRuntimeBackend,
    cpu_threads_default,
    default_backend,
    ort_auto_device,
    ort_session_options,
    reuse_freed_memory,
)
from ladderseg_ros.inference.export import export_onnx
from ladderseg_ros.inference.quantize import QuantizeError, onnx_precision, quantize_int8
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, load_weights, save_weights

SIZE = (128, 64)  # calibration and inference size: small, so quantizing takes a second


@pytest.fixture(scope="module")
def tiny_ss(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss")
    metadata = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny_ss.safetensors", model, metadata)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))


def _frame(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return rgb, (rng.random((height, width)) * 30).astype(np.float32)


def test_int8_segmenter_runs_quantized_convolutions_and_follows_fp32(
    tiny_ss, tmp_path, monkeypatch
) -> None:
    fp32 = Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE)
    int8 = Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE, precision="int8")
    cached = sorted((tmp_path / "cache" / "onnx").glob("*-int8-*-128x64.onnx"))
    assert len(cached) == 1
    assert onnx_precision(cached[0]) == "int8"
    ops = {n.op_type for n in onnx.load(str(cached[0])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    rgb, disparity = _frame(*SIZE)
    a, b = fp32(rgb, disparity, 0.5), int8(rgb, disparity, 0.5)
    assert b.labels.shape == a.labels.shape == (SIZE[1], SIZE[0])
    assert b.labels.dtype == np.uint8
    # an untrained network has near-ties everywhere; int8 still follows fp32 on most pixels
    assert np.mean(a.labels == b.labels) > 0.8
    assert not np.array_equal(a.confidence, b.confidence)  # it really ran int8
    # a second Segmenter reuses the calibrated file instead of calibrating again
    mtime = cached[0].stat().st_mtime_ns
    Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE, precision="int8")
    assert cached[0].stat().st_mtime_ns == mtime
    # other calibration code (synthetic world, SGBM, ONNX Runtime version): calibrated afresh
    from ladderseg_ros.inference import quantize

    monkeypatch.setattr(quantize, "calibration_revision", lambda: "0" * 16)
    Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE, precision="int8")
    again = sorted((tmp_path / "cache" / "onnx").glob("*-int8-*-128x64.onnx"))
    assert len(again) == 2
    assert cached[0].stat().st_mtime_ns == mtime


def test_integer_friendly_rewrite_is_exact_in_float(tiny_ss, tmp_path) -> None:
    import onnxruntime as ort
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ladderseg_ros.inference.quantize import integer_friendly

    exported = export_onnx(*load_weights(tiny_ss), tmp_path / "tiny.onnx")
    prepared = tmp_path / "prepared.onnx"
    quant_pre_process(str(exported), str(prepared), skip_symbolic_shape=True)
    before = onnx.load(str(prepared))
    ops_before = [n.op_type for n in before.graph.node]
    after = integer_friendly(onnx.load(str(prepared)))
    ops_after = [n.op_type for n in after.graph.node]
    # every pre-activation batch norm and 2x2 pool became a (depthwise) convolution
    assert "BatchNormalization" in ops_before
    assert "BatchNormalization" not in ops_after
    rewritten = ops_before.count("BatchNormalization") + ops_before.count("AveragePool")
    rewritten -= ops_after.count("AveragePool")  # other pools (the scale pyramid's) stay
    assert ops_after.count("Conv") == ops_before.count("Conv") + rewritten
    rgb, disparity = _frame(*SIZE)
    feed = {
        "image": ((rgb - 120.0) / 60.0).astype(np.float32).transpose(2, 0, 1)[None],
        "disparity": disparity[None, None],
        "baseline": np.asarray([0.5], np.float32),
    }
    a, b = (
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, feed
        )[0]
        for m in (before, after)
    )
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))


def test_integer_friendly_rewrites_only_what_it_can_make_exact() -> None:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from ladderseg_ros.inference.quantize import integer_friendly

    rng = np.random.default_rng(0)
    c = 4

    def bn(name: str, x: str, y: str) -> list:
        params = [
            rng.uniform(0.5, 2, c),
            rng.normal(size=c),
            rng.normal(size=c),
            rng.uniform(1, 2, c),
        ]
        names = [f"{name}_{k}" for k in ("scale", "bias", "mean", "var")]
        inits.extend(
            numpy_helper.from_array(v.astype(np.float32), n)
            for v, n in zip(params, names, strict=True)
        )
        return [helper.make_node("BatchNormalization", [x, *names], [y], name=name, epsilon=1e-3)]

    inits: list = []
    nodes = [
        helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.float32(1.0))),
        helper.make_node("Add", ["x", "one"], ["x1"]),
        *bn("bn4d", "x1", "b1"),
        helper.make_node("AveragePool", ["b1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node(
            "AveragePool", ["p1"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1
        ),
        helper.make_node("AveragePool", ["p2"], ["p3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["p3"], ["r"], axes=[2, 3], keepdims=0),
        *bn("bn2d", "r", "y"),
        helper.make_node("Identity", ["bn4d_scale"], ["scale"]),  # a parameter read elsewhere
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 11, 13])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, [c]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    before = model.SerializeToString()
    after = integer_friendly(model)
    ops = [(n.op_type, n.name) for n in after.graph.node]
    assert ("Conv", "bn4d/depthwise") in ops  # 4-D, inference mode
    assert ("BatchNormalization", "bn2d") in ops  # (N, C): not a convolution
    assert [op for op, _ in ops].count("AveragePool") == 2  # ceil mode and padded pools stay
    assert [op for op, _ in ops].count("Conv") == 2  # the plain 2x2 pool became one
    kept = {t.name for t in after.graph.initializer}
    assert {"bn4d_bias", "bn4d_mean", "bn4d_var"}.isdisjoint(kept)  # no unused parameters
    assert {"bn4d_scale", "bn2d_scale", "bn2d_var"} <= kept
    x = rng.normal(size=(1, c, 11, 13)).astype(np.float32)  # odd sizes: floor pooling drops a row
    a, b = (
        ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for m in (before, after.SerializeToString())
    )
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_int8_graph_runs_integer_from_convolution_to_convolution(tiny_ss, tmp_path) -> None:
    """No float batch norm, ReLU or average pool between the integer convolutions."""
    import onnxruntime as ort

    fp32 = export_onnx(*load_weights(tiny_ss), tmp_path / "tiny.onnx")
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx", load_weights(tiny_ss)[1], SIZE, frames=1)
    options = ort_session_options(1)
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    for name, size in zip(("batch", "height", "width"), (1, SIZE[1], SIZE[0]), strict=True):
        options.add_free_dimension_override_by_name(name, size)
    ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(tmp_path / "optimized.onnx")).graph
    ops = [n.op_type for n in graph.node]
    float_ops = {"BatchNormalization", "Relu", "QLinearAveragePool", "Conv", "FusedConv"}
    assert not float_ops & set(ops)
    producer = {output: n.op_type for n in graph.node for output in n.output}
    inputs = [producer.get(n.input[0]) for n in graph.node if n.op_type == "QLinearConv"]
    assert len(inputs) >= 90
    integer = {"QLinearConv", "QLinearConcat", "QLinearAdd", "NhwcMaxPool"}
    # all but the convolutions where the float scale-selection pyramid joins take integers
    # straight from an integer op: no Transpose, no (de)quantization pass in between
    assert sum(i in integer for i in inputs) >= 0.85 * len(inputs)


def test_bad_precision_choices_are_clear_errors(tiny_ss, tmp_path) -> None:
    with pytest.raises(SegmenterError, match="unknown precision 'int4'"):
        Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", precision="int4")
    for size in ((256.5, 128), (True, 128), ("256", 128)):
        with pytest.raises(SegmenterError, match="whole numbers >= 16"):
            Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=size)
    with pytest.raises(SegmenterError, match="onnxruntime backend"):
        Segmenter.from_weights(tiny_ss, "torch", "cpu", precision="int8")
    path = export_onnx(*load_weights(tiny_ss), tmp_path / "tiny.onnx")
    with pytest.raises(SegmenterError, match="tiny.onnx is fp32, not int8"):
        Segmenter.from_weights(path, "onnxruntime", "cpu", precision="int8")
    with pytest.raises(QuantizeError, match="at least 1 frame"):
        quantize_int8(path, tmp_path / "q.onnx", load_weights(tiny_ss)[1], SIZE, frames=0)


def test_export_cli_int8_writes_a_model_the_segmenter_runs_as_int8(
    tiny_ss, tmp_path, caplog, capfd
) -> None:
    import logging

    from ladderseg_ros.cli import export as export_cli

    caplog.set_level(logging.INFO)

    out = tmp_path / "tiny_int8.onnx"
    args = argparse.Namespace(
        weights=tiny_ss,
        onnx=out,
        opset=17,
        check=False,
        int8=True,
        calibration_frames=2,
        force=False,
        camera=None,
        focal_length=None,
        network_size=None,
        disparity_size=None,
        no_confidence=False,
    )
    assert export_cli.run(args) == 0
    assert onnx_precision(out) == "int8"
    # the quantizer's per-bias INFO lines (root logger) do not reach the user
    assert not [r for r in caplog.records if r.name == "root" and r.levelno < logging.WARNING]
    assert logging.getLogger().level == logging.INFO  # and the root level is restored
    # nor ONNX Runtime's warnings about parameters the rewrite left behind (180 lines once)
    assert "Removing initializer" not in capfd.readouterr().err
    segmenter = Segmenter.from_weights(out, "auto", "cpu", precision="int8")
    rgb, disparity = _frame(96, 48)  # another size than calibration: shapes stay dynamic
    assert segmenter(rgb, disparity, 0.5).labels.shape == (48, 96)
    with pytest.raises(QuantizeError, match="tiny_int8.onnx is already int8"):
        quantize_int8(out, tmp_path / "twice.onnx", load_weights(tiny_ss)[1], SIZE, frames=1)
    assert not (tmp_path / "twice.onnx").exists()
    args.weights, args.onnx = out, tmp_path / "again.onnx"
    with pytest.raises(export_cli.ExportCliError, match="tiny_int8.onnx is an ONNX model"):
        export_cli.run(args)
    args.weights, args.calibration_frames = tiny_ss, 0
    with pytest.raises(export_cli.ExportCliError, match="--calibration-frames"):
        export_cli.run(args)


def test_onnxruntime_builds_one_session_per_shape_and_keeps_a_few(tiny_ss, tmp_path) -> None:
    path = export_onnx(*load_weights(tiny_ss), tmp_path / "tiny.onnx")
    backend = OnnxRuntimeBackend(path, device="cpu", threads=1)
    key = ((128, 64), (128, 64), (128, 64), False, True)
    first = backend.session_for(key)
    assert backend.session_for(key) is first
    for h in (32, 48, 80, 96):
        backend.session_for(((128, h), (128, 64), (128, 64), False, True))
    assert len(backend._sessions) == backends_module._SESSIONS_KEPT
    assert backend.session_for(key) is not first  # evicted, rebuilt
    # labels and confidence come from the graph: argmax and top softmax of the logits
    rgb, disparity = _frame(128, 64)
    labels, confidence, logits, _ = backend.run(rgb, (128, 64), disparity, 0.5, True)
    assert labels.dtype == np.uint8
    assert labels.shape == (64, 128)
    np.testing.assert_array_equal(labels, logits.argmax(0))
    expected = torch.softmax(torch.from_numpy(logits), 0).max(0).values.numpy()
    np.testing.assert_allclose(confidence, expected, rtol=1e-5, atol=1e-6)


def test_cpu_defaults() -> None:
    assert default_backend("cpu") == "onnxruntime"
    assert default_backend("cuda") == "torch"
    expected = "torch" if torch.cuda.is_available() else "onnxruntime"
    assert default_backend("auto") == expected
    assert cpu_threads_default() == len(os.sched_getaffinity(0))
    options = ort_session_options(None)
    assert options.intra_op_num_threads == cpu_threads_default()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert ort_session_options(1).intra_op_num_threads == 1
    assert reuse_freed_memory() is True  # glibc here


def test_auto_backend_is_onnxruntime_on_the_cpu(tiny_ss, caplog) -> None:
    segmenter = Segmenter.from_weights(tiny_ss, "auto", "cpu", threads=1)
    assert segmenter.backend_name == "onnxruntime:CPUExecutionProvider"
    if torch.cuda.is_available() or ort_auto_device() == "cuda":
        return
    # backend and device auto on a machine without GPU: no warning about a missing GPU
    with caplog.at_level("WARNING"):
        segmenter = Segmenter.from_weights(tiny_ss, "auto", "auto", threads=1)
    assert segmenter.backend_name == "onnxruntime:CPUExecutionProvider"
    assert not [r for r in caplog.records if "CUDA" in r.getMessage()]


def test_gpu_check_dry_run_prints_its_table(repo_root, tmp_path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--dry-run", "--json", str(out)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ldn_tiny_ss" in proc.stdout
    assert "fp16_cl_graph" in proc.stdout
    assert "training step, 128x64 batch 2" in proc.stdout
    assert out.is_file()


def test_torch_threads_follow_openmp_waiting(monkeypatch) -> None:
    import ladderseg_ros
    from ladderseg_ros.inference.backends import torch_threads_default

    monkeypatch.setattr(ladderseg_ros, "OPENMP_PASSIVE", True)
    assert torch_threads_default() == cpu_threads_default()
    monkeypatch.setattr(ladderseg_ros, "OPENMP_PASSIVE", False)
    assert torch_threads_default() == 1


def test_importing_the_package_before_torch_makes_openmp_sleep(repo_root) -> None:
    code = (
        "import os, sys; os.environ.pop('OMP_WAIT_POLICY', None)\n"
        "import ladderseg_ros, torch\n"
        "print(os.environ['OMP_WAIT_POLICY'], ladderseg_ros.OPENMP_PASSIVE)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["PASSIVE", "True"], out.stderr
    late = "import torch, ladderseg_ros\nprint(ladderseg_ros.OPENMP_PASSIVE)\n"
    out = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["False"], out.stderr


def test_importing_the_package_before_cv2_makes_opencv_workers_sleep(repo_root) -> None:
    """OpenCV's pool does not spin after its calls unless the user chose otherwise."""
    names = ("OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER", "OPENCV_THREAD_POOL_ACTIVE_WAIT_MAIN")
    env = {k: v for k, v in os.environ.items() if k not in names}
    code = f"import os, ladderseg_ros, cv2\nprint(*(os.environ[n] for n in {names!r}))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["0", "0"], out.stderr
    chosen = {**env, names[0]: "500"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=chosen)
    assert out.stdout.split() == ["500", "0"], out.stderr


def test_a_cached_export_of_other_code_is_not_reused(tiny_ss, tmp_path, monkeypatch) -> None:
    from ladderseg_ros.inference import export

    Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE)
    folder = tmp_path / "cache" / "onnx"
    first = sorted(folder.glob("*.onnx"))
    assert len(first) == 1
    assert first[0].stem.endswith(export.graph_revision())
    Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE)  # reused
    assert sorted(folder.glob("*.onnx")) == first
    monkeypatch.setattr(export, "graph_revision", lambda: "0" * 16)  # other model code
    Segmenter.from_weights(tiny_ss, "onnxruntime", "cpu", input_size=SIZE)
    second = sorted(set(folder.glob("*.onnx")) - set(first))
    assert [p.stem.rsplit("-", 1)[1] for p in second] == ["0" * 16]


def test_an_empty_cache_variable_means_the_default_folder(monkeypatch) -> None:
    from pathlib import Path

    from ladderseg_ros.inference.backends import default_cache_dir

    monkeypatch.setenv("LADDERSEG_CACHE", "")
    assert default_cache_dir() == Path.home() / ".cache" / "ladderseg"
