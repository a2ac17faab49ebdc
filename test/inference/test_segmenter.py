"""Segmenter on both backends: sizes, validation, and torch / ONNX Runtime parity."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest
import torch

from ladderseg_ros.classes import CITYSCAPES, VOC, bit_palette
from ladderseg_ros.inference import Segmenter, SegmenterError
from ladderseg_ros.inference.backends import (
    BackendError,
    OnnxRuntimeBackend,
    cpu_fallback_warning,
    cuda_device_id,
    provider_options,
)
from ladderseg_ros.inference.export import ExportError, export_onnx, read_onnx_metadata
from ladderseg_ros.inference.segmenter import label_set_for
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights


def _randomize_norms(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics, so that parity is tested on a network that is not flat."""
    generator = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=generator) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    paths = {}
    folder = tmp_path_factory.mktemp("weights")
    for name in ("ldn_tiny", "ldn_tiny_ss"):
        model = build_model(name)
        _randomize_norms(model)
        metadata = WeightsMetadata.for_label_set(model.config, "cityscapes")
        paths[name] = save_weights(folder / f"{name}.safetensors", model, metadata)
    return paths


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))


def _frame(h: int = 75, w: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    disparity = (rng.random((h, w)) * 60).astype(np.float32)
    disparity[: h // 4] = 0.0  # sky: invalid
    return rgb, disparity


def test_torch_backend_outputs_at_input_size(weights) -> None:
    segmenter = Segmenter.from_weights(weights["ldn_tiny"], device="cpu", threads=1)
    assert segmenter.backend_name == "torch:cpu"
    assert not segmenter.uses_disparity
    assert segmenter.label_set is CITYSCAPES
    rgb, _ = _frame()
    result = segmenter(rgb, return_logits=True)
    assert result.labels.shape == (75, 150)
    assert result.labels.dtype == np.uint8
    assert result.labels.max() < 19
    assert result.confidence.dtype == np.float32
    assert np.all((result.confidence > 1 / 19 - 1e-6) & (result.confidence <= 1 + 1e-6))
    assert result.logits.shape == (19, 75, 150)
    assert np.array_equal(result.logits.argmax(0), result.labels)
    assert segmenter(rgb).logits is None


def test_input_size_maps_labels_back(weights) -> None:
    rgb, disparity = _frame(90, 200)
    segmenter = Segmenter.from_weights(weights["ldn_tiny_ss"], device="cpu", input_size=(96, 48))
    result = segmenter(rgb, disparity, 0.54, return_logits=True)
    assert result.labels.shape == (90, 200)
    assert result.confidence.shape == (90, 200)
    assert result.logits.shape == (19, 90, 200)


def test_bad_inputs_are_clear_errors(weights) -> None:
    rgb, disparity = _frame()
    segmenter = Segmenter.from_weights(weights["ldn_tiny_ss"], device="cpu")
    with pytest.raises(SegmenterError, match="disparity and baseline"):
        segmenter(rgb)
    with pytest.raises(SegmenterError, match="disparity shape"):
        segmenter(rgb, disparity[:, : disparity.shape[1] // 2], 0.5)  # another aspect ratio
    with pytest.raises(SegmenterError, match="disparity shape"):
        segmenter(rgb, np.pad(disparity, 2), 0.5)  # larger than the image
    with pytest.raises(SegmenterError, match="baseline"):
        segmenter(rgb, disparity, -0.5)
    with pytest.raises(SegmenterError, match="uint8"):
        segmenter(rgb.astype(np.float32), disparity, 0.5)
    with pytest.raises(SegmenterError, match="backend"):
        Segmenter.from_weights(weights["ldn_tiny"], backend="tensorflow")


@pytest.mark.parametrize("name", ["ldn_tiny", "ldn_tiny_ss"])
def test_torch_and_onnxruntime_agree(weights, name: str) -> None:
    torch_seg = Segmenter.from_weights(weights[name], backend="torch", device="cpu")
    ort_seg = Segmenter.from_weights(weights[name], backend="onnxruntime", device="cpu")
    assert ort_seg.backend_name == "onnxruntime:CPUExecutionProvider"
    for h, w in [(75, 150), (130, 300)]:  # neither is the export's 128x256 tracing size
        rgb, disparity = _frame(h, w)
        a = torch_seg(rgb, disparity, 0.54)
        b = ort_seg(rgb, disparity, 0.54)
        assert np.mean(a.labels == b.labels) >= 0.999
        assert np.allclose(a.confidence, b.confidence, atol=1e-3)


def test_exported_file_carries_metadata(weights, tmp_path) -> None:
    from ladderseg_ros.weights import load_weights

    model, metadata = load_weights(weights["ldn_tiny_ss"])
    path = export_onnx(model, metadata, tmp_path / "tiny.onnx")
    assert read_onnx_metadata(path) == metadata
    (logits,) = onnx.load(str(path)).graph.output
    assert [d.dim_value or d.dim_param for d in logits.type.tensor_type.shape.dim] == [
        "batch",
        19,
        "height",
        "width",
    ]
    segmenter = Segmenter.from_weights(path, backend="onnxruntime", device="cpu")
    assert segmenter.uses_disparity
    rgb, disparity = _frame()
    assert segmenter(rgb, disparity, 0.54).labels.shape == (75, 150)
    with pytest.raises(SegmenterError, match="onnxruntime"):
        Segmenter.from_weights(path, backend="torch")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ExportError, match="bad.onnx"):
        read_onnx_metadata(bad)


def test_onnxruntime_warns_once_when_a_gpu_was_asked_for_but_it_runs_on_cpu(
    weights, tmp_path, caplog
) -> None:
    import onnxruntime as ort

    from ladderseg_ros.weights import load_weights

    if {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get_available_providers()):
        pytest.skip("this ONNX Runtime has GPU providers: no fallback to see")
    path = export_onnx(*load_weights(weights["ldn_tiny"]), tmp_path / "tiny.onnx")
    for device, warnings in [("auto", 1), ("cuda", 1), ("cuda:1", 1), ("cpu", 0)]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ladderseg_ros.inference.backends"):
            backend = OnnxRuntimeBackend(path, device=device, cache_dir=tmp_path)
        assert backend.name == "onnxruntime:CPUExecutionProvider"
        records = [r for r in caplog.records if r.name == "ladderseg_ros.inference.backends"]
        assert len(records) == warnings, (device, [r.getMessage() for r in records])
        if warnings:
            assert "running on CPU" in records[0].getMessage()


def test_cpu_fallback_warning_covers_providers_that_failed_to_start() -> None:
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    on_cpu = ["CPUExecutionProvider"]
    assert "failed to start" in cpu_fallback_warning("cuda", gpu, on_cpu)
    assert "failed to start" in cpu_fallback_warning("auto", gpu, on_cpu)
    assert "no CUDA/TensorRT provider" in cpu_fallback_warning("auto", on_cpu, on_cpu)
    assert cpu_fallback_warning("cpu", gpu, on_cpu) is None
    assert cpu_fallback_warning("cuda", gpu, gpu[1:]) is None


def test_cuda_index_reaches_the_gpu_providers(tmp_path) -> None:
    providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt, cuda, cpu = provider_options(providers, cuda_device_id("cuda:1"), tmp_path)
    assert trt[1]["device_id"] == 1
    assert trt[1]["trt_engine_cache_path"] == str(tmp_path)
    assert cuda == ("CUDAExecutionProvider", {"device_id": 1})
    assert cpu == "CPUExecutionProvider"
    assert cuda_device_id("cuda") == cuda_device_id("auto") == 0
    assert cuda_device_id("cuda:10") == 10
    # what torch.device would refuse later (with a traceback) is refused here, in one line
    for bad in ("cuda:x", "cuda:-1", "cuda:", "cuda:01", "cuda:\u0661", "cuda:\u00b2", "cuda:1 "):
        with pytest.raises(BackendError, match="GPU index 0, 1, 2"):
            cuda_device_id(bad)
    with pytest.raises(BackendError, match="GPU index"):
        OnnxRuntimeBackend(tmp_path / "never-read.onnx", device="cuda:one")


def test_torch_backend_names_a_gpu_index_the_machine_lacks(weights, monkeypatch) -> None:
    from ladderseg_ros.inference.backends import TorchBackend
    from ladderseg_ros.weights import load_weights

    model, _ = load_weights(weights["ldn_tiny"])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(BackendError, match=r"'cuda:3': this machine has 1 GPU\(s\), from cuda:0"):
        TorchBackend(model, device="cuda:3")


def test_custom_class_sets_get_the_bit_palette() -> None:
    config = build_model("ldn_tiny", num_classes=4).config
    names = ("road", "car", "cone", "sky")
    label_set = label_set_for(WeightsMetadata(model=config, label_set="mine", class_names=names))
    assert label_set.names == names
    assert label_set.colors.tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert np.array_equal(bit_palette(21), VOC.colors)


def _cropped_logits_model(classes: int, static_channels: bool):
    """raw (N, C, H', W') -> Slice rows -> Slice columns -> logits, as the export crops."""
    import json

    from onnx import TensorProto, helper

    channels = classes if static_channels else "classes"
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["raw"], ["padded"]),
            helper.make_node("Shape", ["height"], ["_h"]),  # the crop's ends, as the export's
            helper.make_node("Shape", ["width"], ["_w"]),
            helper.make_node("Slice", ["padded", "_zero", "_h", "_two"], ["rows"]),
            helper.make_node("Slice", ["rows", "_zero", "_w", "_three"], ["logits"]),
        ],
        "heads",
        [
            helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["batch", channels, "H", "W"]),
            helper.make_tensor_value_info("height", TensorProto.FLOAT, ["height"]),
            helper.make_tensor_value_info("width", TensorProto.FLOAT, ["width"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", channels, "h", "w"])],
        [
            helper.make_tensor("_zero", TensorProto.INT64, [1], [0]),
            helper.make_tensor("_two", TensorProto.INT64, [1], [2]),
            helper.make_tensor("_three", TensorProto.INT64, [1], [3]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    entry = model.metadata_props.add()
    entry.key = "ladderseg"
    entry.value = json.dumps({"class_names": [f"c{i}" for i in range(classes)]})
    return model


@pytest.mark.parametrize("keep_logits", [True, False])
@pytest.mark.parametrize("static_channels", [True, False])
def test_label_outputs_are_numpys_argmax_and_largest_softmax_probability_of_the_crop(
    keep_logits: bool, static_channels: bool
) -> None:
    import onnxruntime as ort

    from ladderseg_ros.inference.backends import ort_session_options, with_label_outputs

    model = with_label_outputs(_cropped_logits_model(5, static_channels), keep_logits)
    outputs = [o.name for o in model.graph.output]
    assert outputs == (["logits"] if keep_logits else []) + ["labels", "confidence"]
    session = ort.InferenceSession(
        model.SerializeToString(), ort_session_options(1), providers=["CPUExecutionProvider"]
    )
    padded = np.random.default_rng(0).normal(0, 4, (2, 5, 8, 12)).astype(np.float32)
    padded[:, 3, :3] = padded[:, 1, :3] = padded.max(1)[:, :3] + 30  # ties: channel 1 wins
    padded[:, 4, 7:] = 1e3  # the padding's largest logits must not reach the crop
    padded[:, 4, :, 9:] = 1e3
    crop = padded[:, :, :7, :9]
    feed = {"raw": padded, "height": np.zeros(7, np.float32), "width": np.zeros(9, np.float32)}
    labels, confidence = session.run(["labels", "confidence"], feed)
    assert labels.dtype == np.uint8
    assert labels.shape == confidence.shape == (2, 7, 9)
    np.testing.assert_array_equal(labels, crop.argmax(1))
    assert (labels[:, :3] == 1).all()
    probabilities = np.exp(crop - crop.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    np.testing.assert_allclose(confidence, probabilities.max(1), rtol=1e-6)
    np.testing.assert_allclose(confidence[:, :3], 0.5, rtol=1e-6)  # two equal largest
    slices = [n.input[0] for n in model.graph.node if n.op_type == "Slice"]
    if keep_logits:
        np.testing.assert_array_equal(session.run(["logits"], feed)[0], crop)
        assert len(slices) == 6
    else:  # nothing copies the C logit planes out of the padded tensor
        assert len(slices) == 4
        assert "padded" not in slices
        assert "rows" not in slices


def test_label_outputs_of_one_class_are_all_zero() -> None:
    import onnxruntime as ort

    from ladderseg_ros.inference.backends import ort_session_options, with_label_outputs

    model = with_label_outputs(_cropped_logits_model(1, static_channels=True), False)
    session = ort.InferenceSession(
        model.SerializeToString(), ort_session_options(1), providers=["CPUExecutionProvider"]
    )
    feed = {
        "raw": np.random.default_rng(0).normal(0, 4, (1, 1, 4, 6)).astype(np.float32),
        "height": np.zeros(3, np.float32),
        "width": np.zeros(5, np.float32),
    }
    labels, confidence = session.run(["labels", "confidence"], feed)
    np.testing.assert_array_equal(labels, np.zeros((1, 3, 5), np.uint8))
    np.testing.assert_array_equal(confidence, np.ones((1, 3, 5), np.float32))


def test_label_outputs_need_the_class_count() -> None:
    from ladderseg_ros.inference.backends import with_label_outputs

    model = _cropped_logits_model(5, static_channels=False)
    del model.metadata_props[:]
    with pytest.raises(BackendError, match="number of classes"):
        with_label_outputs(model)


def test_onnxruntime_logits_match_its_labels_and_confidence(weights) -> None:
    segmenter = Segmenter.from_weights(weights["ldn_tiny_ss"], backend="onnxruntime", device="cpu")
    rgb, disparity = _frame()  # 75x150: padded to 128x192 inside the network, then cropped
    plain = segmenter(rgb, disparity, 0.54)
    result = segmenter(rgb, disparity, 0.54, return_logits=True)
    assert result.logits.shape == (19, 75, 150)
    np.testing.assert_array_equal(result.labels, plain.labels)
    np.testing.assert_array_equal(result.confidence, plain.confidence)
    np.testing.assert_array_equal(result.labels, result.logits.argmax(0))
    probabilities = np.exp(result.logits - result.logits.max(0))
    np.testing.assert_allclose(result.confidence, 1 / probabilities.sum(0), rtol=1e-5)


@pytest.mark.parametrize("opset", [17, 18, 20])
def test_exports_of_every_supported_opset_run_with_labels_in_the_graph(
    weights, tmp_path, opset: int
) -> None:
    """Split takes its sizes as an input (opset 13+; from 18 it needs them or num_outputs)."""
    from ladderseg_ros.weights import load_weights

    model, metadata = load_weights(weights["ldn_tiny"])
    path = export_onnx(model, metadata, tmp_path / f"tiny{opset}.onnx", opset=opset)
    onnx_seg = Segmenter.from_weights(path, backend="onnxruntime", device="cpu")
    torch_seg = Segmenter.from_weights(weights["ldn_tiny"], backend="torch", device="cpu")
    rgb, _ = _frame()
    assert np.mean(onnx_seg(rgb).labels == torch_seg(rgb).labels) >= 0.999


def test_onnxruntime_logits_come_from_the_file_as_it_was_loaded(weights, tmp_path) -> None:
    from ladderseg_ros.weights import load_weights

    model, metadata = load_weights(weights["ldn_tiny"])
    path = export_onnx(model, metadata, tmp_path / "tiny.onnx")
    segmenter = Segmenter.from_weights(path, backend="onnxruntime", device="cpu")
    path.unlink()  # replaced or removed while the node runs
    rgb, _ = _frame()
    plain = segmenter(rgb)
    result = segmenter(rgb, return_logits=True)
    np.testing.assert_array_equal(result.labels, plain.labels)
    np.testing.assert_array_equal(result.labels, result.logits.argmax(0))


def test_an_onnx_file_is_known_by_its_suffix_in_any_case(weights, tmp_path) -> None:
    from ladderseg_ros.inference.segmenter import weights_metadata
    from ladderseg_ros.weights import load_weights

    model, metadata = load_weights(weights["ldn_tiny"])
    path = export_onnx(model, metadata, tmp_path / "TINY.ONNX")
    assert weights_metadata(path) == metadata
    segmenter = Segmenter.from_weights(path, backend="auto", device="cpu")
    assert segmenter.backend_name.startswith("onnxruntime")
