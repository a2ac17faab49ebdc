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
    # pairs where floor(x * n_in / n_out) is a pixel off (a KITTI camera from 192 rows,
    # 1280x720 from 576x320), and every pair up to 120 -> 400, either way
    pairs = [(192, 376), (576, 1280), (320, 720), (192, 752), (704, 1920), (448, 2208)]
    pairs += [(a, b) for a in range(1, 121) for b in range(1, 401, 3)]
    pairs += [(b, a) for a, b in pairs]
    for n_in, n_out in pairs:
        row = np.arange(n_in, dtype=np.float32)[None]
        opencv = cv2.resize(row, (n_out, 1), interpolation=cv2.INTER_NEAREST)[0]
        np.testing.assert_array_equal(nearest_index(n_in, n_out), opencv, f"{n_in} -> {n_out}")


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
        # every path hands back the labels it resized: colours are made from them
        assert result.network_labels.shape == (network[1], network[0])
        resized = cv2.resize(result.network_labels, camera, interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(resized, result.labels)
        if backend == "onnxruntime-graph":
            from ladderseg_ros.inference.backends import BackendOutput

            out: BackendOutput = ort.run(image, network, None, None, False, False)
            assert out.confidence is None
            np.testing.assert_array_equal(out.network_labels, result.network_labels)
    from ladderseg_ros.classes import CITYSCAPES, apply_palette, palette_lut
    from ladderseg_ros.frames.frame import StereoFrame, Wanted
    from ladderseg_ros.frames.processor import FrameProcessor
    from ladderseg_ros.stereo import SgbmConfig

    processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig())
    segmenter.input_size = (256, 192)  # 192 -> 376 rows: where floor(x * 192 / 376) is off
    out = processor.process(StereoFrame(_image(1241, 376, seed=5)), Wanted(disparity=False))
    np.testing.assert_array_equal(
        out.outputs.color, apply_palette(out.outputs.labels, palette_lut(CITYSCAPES))
    )
    segmenter.input_size = None
    same = _image(*network, seed=4)  # the network's own size: nothing resized
    assert segmenter(same).network_labels is None


@pytest.mark.parametrize(("n_in", "n_out"), [(480, 256), (448, 1280), (375, 192), (1000, 512)])
def test_graph_and_torch_nearest_are_inter_nearest(n_in, n_out) -> None:
    """ONNX Runtime's nearest Resize and torch's interpolate land a pixel short at some exact
    positions (28 of 256 for 480 -> 256): both paths gather by the tables instead."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from ladderseg_ros.inference.camera_graph import _Builder
    from ladderseg_ros.inference.resample import nearest_torch

    labels = np.random.default_rng(4).integers(0, 19, (1, 1, 7, n_in), np.uint8)
    expected = cv2.resize(labels[0, 0], (n_out, 7), interpolation=cv2.INTER_NEAREST)
    builder = _Builder("t")
    builder.nearest("x", (7, n_in), (7, n_out), output="y")
    graph = helper.make_graph(
        builder.nodes,
        "nearest",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 7, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 1, 7, n_out])],
        builder.constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": labels})[0][0, 0], expected)
    got = nearest_torch(torch.from_numpy(labels), (7, n_out)).numpy()[0, 0]
    np.testing.assert_array_equal(got, expected)


def test_opencv_input_resize_follows_each_axis_as_the_tables_do() -> None:
    """Shrinking one way and growing the other: INTER_AREA alone is neither; each axis by its
    own rule, as the graph and torch paths resample."""
    from ladderseg_ros.inference.backends import downsample_input

    image = _image(2000, 12)
    for size in [(640, 64), (64, 640 // 10), (2000, 6), (1000, 24)]:
        rows, cols = axis_resample(12, size[1]), axis_resample(2000, size[0])
        x = resample_numpy(resample_numpy(image.astype(np.float32), 0, rows), 1, cols)
        tables = rounded_numpy(x, rows, cols)
        diff = np.abs(downsample_input(image, size).astype(int) - tables)
        assert diff.max() <= 2, size  # OpenCV rounds to uint8 between the two axes


def test_resize_nearest_gives_opencvs_inter_nearest_pixels() -> None:
    """Columns by OpenCV, rows gathered: the same array as OpenCV's whole resize."""
    from ladderseg_ros.inference.backends import resize_nearest

    rng = np.random.default_rng(7)
    pairs = [((64, 64), (1024, 448)), ((320, 192), (2048, 1024)), ((192, 376), (376, 192))]
    pairs += [
        ((w, h), (int(rng.integers(1, 700)), int(rng.integers(1, 700))))
        for w, h in rng.integers(1, 400, (40, 2))
    ]
    for (w, h), size in pairs:
        for shape, dtype in (((h, w), np.uint8), ((h, w, 3), np.uint8), ((h, w), np.float32)):
            image = (rng.random(shape) * 255).astype(dtype)
            out = resize_nearest(image, size)
            expected = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
            assert out.flags.c_contiguous
            assert out.dtype == dtype
            np.testing.assert_array_equal(out, expected, err_msg=f"{(w, h)} -> {size} {shape}")
            assert not np.shares_memory(out, image)


@pytest.mark.parametrize("size", [(60, 90), (60, 50), (17, 23), (100, 50)])
@pytest.mark.parametrize("layout", ["one channel", "fortran", "reversed rows", "read-only"])
def test_resize_nearest_equals_opencv_for_any_layout_and_one_channel(
    layout: str, size: tuple[int, int]
) -> None:
    """Whether the width changes or not: OpenCV's shape ((h, w, 1) comes back (H, W)), a new
    C-contiguous array, the input untouched."""
    from ladderseg_ros.inference.backends import resize_nearest

    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (50, 60, 1 if layout == "one channel" else 3), np.uint8)
    if layout == "fortran":
        image = np.asfortranarray(image)
    elif layout == "reversed rows":
        image = image[::-1]
    elif layout == "read-only":
        image.flags.writeable = False
    before = image.copy()
    out = resize_nearest(image, size)
    expected = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous
    assert out.flags.writeable
    assert not np.shares_memory(out, image)
    np.testing.assert_array_equal(image, before)
