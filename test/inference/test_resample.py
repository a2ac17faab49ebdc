"""The in-graph resizing against OpenCV, and the Segmenter against the cv2 pipeline it replaced."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ladderseg_ros.inference import Segmenter
from ladderseg_ros.inference.resample import (
    axis_resample,
    nearest_index,
    resample_numpy,
    resample_torch,
    rounded_numpy,
)
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights

SIZES = [((2048, 1024), (320, 192)), ((1242, 375), (640, 192)), ((100, 80), (50, 40))]


def _image(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 2)


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rows, cols = axis_resample(image.shape[0], size[1]), axis_resample(image.shape[1], size[0])
    x = resample_numpy(resample_numpy(image.astype(np.float32), 0, rows), 1, cols)
    return rounded_numpy(x, rows, cols).astype(np.uint8)


@pytest.mark.parametrize(("camera", "network"), SIZES)
def test_area_tables_give_opencv_inter_area(camera, network) -> None:
    image = _image(*camera)
    expected = cv2.resize(image, network, interpolation=cv2.INTER_AREA)
    diff = np.abs(_resized(image, network).astype(int) - expected)
    assert diff.max() <= 1  # float32 sums vs OpenCV's at an exact half: a few in 10^5
    assert (diff > 0).mean() < 1e-4


def test_linear_tables_follow_inter_linear_within_a_grey_level() -> None:
    image = _image(160, 48)
    expected = cv2.resize(image, (480, 144), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(_resized(image, (480, 144)).astype(int) - expected)
    assert diff.max() <= 1  # OpenCV blends uint8 in 11-bit fixed point
    assert (diff > 0).mean() < 0.15


def test_torch_tables_equal_numpy() -> None:
    x = np.random.default_rng(1).normal(size=(1, 30, 50, 3)).astype(np.float32)
    for n_out in (7, 30, 77):
        table = axis_resample(30, n_out)
        got = resample_torch(torch.from_numpy(x), 1, table).numpy()
        np.testing.assert_allclose(got, resample_numpy(x, 1, table), atol=1e-4)


def test_nearest_index_is_inter_nearest() -> None:
    labels = np.random.default_rng(2).integers(0, 19, (48, 80), np.uint8)
    for size in [(1242, 375), (2048, 1024), (80, 48), (81, 49)]:
        expected = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        got = labels[nearest_index(48, size[1])][:, nearest_index(80, size[0])]
        np.testing.assert_array_equal(got, expected)


def test_lengths_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        axis_resample(0, 4)


@pytest.mark.parametrize("backend", ["torch", "torch-device", "onnxruntime", "onnxruntime-graph"])
def test_segmenter_labels_match_the_opencv_pipeline(tmp_path, backend) -> None:
    """The graph's resizing gives the labels that OpenCV resizing around the network gave."""
    from ladderseg_ros.inference.backends import OnnxRuntimeBackend
    from ladderseg_ros.inference.export import export_onnx

    torch.manual_seed(0)
    model = build_model("ldn_tiny", num_classes=19).eval()
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes", input_size=(256, 128))
    weights = save_weights(tmp_path / "w.safetensors", model, meta)
    if backend == "onnxruntime-graph":  # the GPU providers' graph, on the CPU provider
        onnx_path = export_onnx(model, meta, tmp_path / "w.onnx")
        ort = OnnxRuntimeBackend(onnx_path, "cpu", resize_in_graph=True)
        segmenter = Segmenter(ort, meta)
    elif backend == "torch-device":  # the GPU's torch path, on the CPU
        from ladderseg_ros.inference.backends import TorchBackend

        torch_backend = TorchBackend(model, "cpu", False, 1, meta.mean, meta.std, True)
        segmenter = Segmenter(torch_backend, meta)
    else:
        segmenter = Segmenter.from_weights(weights, backend=backend, device="cpu")
    mean = np.asarray(meta.mean, np.float32) * 255
    std = np.asarray(meta.std, np.float32) * 255
    for camera in [(600, 300), (200, 100)]:  # shrink (area) and grow (linear)
        image = _image(*camera, seed=3)
        network = segmenter.network_size(*camera)
        small = cv2.resize(
            image,
            network,
            interpolation=cv2.INTER_AREA if network[0] < camera[0] else cv2.INTER_LINEAR,
        )
        x = torch.from_numpy(((small - mean) / std).transpose(2, 0, 1)[None].astype(np.float32))
        with torch.no_grad():
            logits = model(x)["out"][0]
        prob, labels = torch.softmax(logits, 0).max(0)
        expected = cv2.resize(
            labels.numpy().astype(np.uint8), camera, interpolation=cv2.INTER_NEAREST
        )
        confidence = cv2.resize(prob.numpy(), camera, interpolation=cv2.INTER_LINEAR)
        result = segmenter(image)
        assert result.labels.shape == (camera[1], camera[0])
        assert np.mean(result.labels == expected) >= 0.999
        np.testing.assert_allclose(result.confidence, confidence, atol=0.02)
