"""FrameProcessor on StereoFrames: the outputs and what the output disparity declares."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.classes import CITYSCAPES
from ladderseg_ros.frames.frame import (
    NO_PROJECTION,
    SGBM_DELTA_D,
    FrameError,
    FrameGeometry,
    StereoFrame,
    Wanted,
)
from ladderseg_ros.frames.processor import FrameProcessor
from ladderseg_ros.stereo import SgbmConfig

W, H = 64, 32
RNG = np.random.default_rng(5)
LEFT = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
RIGHT = np.roll(LEFT, -4, axis=1)
GROUPS_FILE = Path(__file__).resolve().parents[2] / "config" / "groups_driving.yaml"
P_LEFT = (100.0, 0.0, W / 2, 0.0, 0.0, 100.0, H / 2, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> FrameProcessor:
    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    path = save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, meta)
    segmenter = Segmenter.from_weights(path, "torch", "cpu")
    return FrameProcessor(segmenter, CITYSCAPES, SgbmConfig(num_disparities=64))


def test_frame_arrays_must_fit_the_left_image() -> None:
    with pytest.raises(FrameError, match="left image must be"):
        StereoFrame(LEFT[..., 0])
    with pytest.raises(FrameError, match="right image"):
        StereoFrame(LEFT, RIGHT[:, :-2])
    with pytest.raises(FrameError, match="larger than the left image"):
        StereoFrame(LEFT, disparity=np.ones((H + 2, W), np.float32))


def test_a_smaller_received_disparity_is_resized_only_for_the_outputs(
    processor: FrameProcessor,
) -> None:
    small = np.full((H // 2, W // 2), 4.0, np.float32)  # 8 px of the left image
    frame = StereoFrame(LEFT, disparity=small, geometry=FrameGeometry(100.0, 0.5))
    result = processor.process(frame, Wanted(disparity=True))
    assert result.outputs.labels.shape == (H, W)
    assert result.outputs.disparity.shape == (H, W)
    np.testing.assert_array_equal(result.outputs.disparity, 8.0)
    result = processor.process(frame, Wanted(disparity=False))
    assert result.outputs.labels.shape == (H, W)
    assert result.outputs.disparity is None


def test_computed_disparity_declares_sgbm_range_and_step(processor: FrameProcessor) -> None:
    geometry = FrameGeometry(100.0, 0.5, cx_offset=0.0, projection=P_LEFT)
    frame = StereoFrame(LEFT, RIGHT, geometry=geometry, stamp=7, frame_id="cam")
    result = processor.process(frame, Wanted(points=True))
    out = result.outputs
    assert out.labels.shape == (H, W)
    assert out.disparity.shape == (H, W)
    assert out.points.shape == (H // processor.points.decimation, W // processor.points.decimation)
    assert result.delta_d == SGBM_DELTA_D
    # 64 disparities do not fit a 64-px wide image: SGBM runs the range that fits, and says so
    assert 0 < result.num_disparities < 64
    assert result.max_disparity == result.num_disparities
    assert [(n.kind, n.bad) for n in result.notes] == [("sgbm_range", False)]


def test_received_disparity_keeps_its_range_and_step(processor: FrameProcessor) -> None:
    disparity = np.full((H, W), 6.0, np.float32)
    disparity[0, 0] = 0.0
    disparity[1, 1] = 9.5
    frame = StereoFrame(
        LEFT,
        disparity=disparity,
        geometry=FrameGeometry(100.0, 0.5),
        min_disparity=1.0,
        delta_d=1 / 128,
    )
    result = processor.process(frame, Wanted(points=True))
    assert result.outputs.disparity is disparity  # used as it is: no resize, no copy
    assert (result.min_disparity, result.delta_d) == (1.0, 1 / 128)
    assert result.max_disparity == 9.5  # no range given: the largest valid value
    assert result.outputs.points is None
    assert [n.text for n in result.notes] == [f"no point cloud: {NO_PROJECTION}"]
    assert frame.max_disparity == math.inf


def test_only_what_is_wanted_is_computed(processor: FrameProcessor) -> None:
    frame = StereoFrame(LEFT, RIGHT, geometry=FrameGeometry(100.0, 0.5))
    wanted = Wanted(labels=False, color=False, overlay=False, confidence=False, disparity=True)
    result = processor.process(frame, wanted)
    assert result.outputs.disparity is not None
    assert result.outputs.labels is None
    assert result.outputs.color is None
    processor.overlay_alpha = 1.0  # a node's parameter change, between frames
    overlay = processor.process(frame, Wanted(labels=True)).outputs
    np.testing.assert_array_equal(overlay.overlay, overlay.color)
    processor.overlay_alpha = 0.5


class _Recording:
    """A real Segmenter that keeps the disparity it was given."""

    def __init__(self, segmenter: object) -> None:
        self.segmenter = segmenter
        self.uses_disparity = True
        self.disparity: np.ndarray | None = None

    def network_size(self, width: int, height: int, focal_length: float | None = None):
        return self.segmenter.network_size(width, height, focal_length)

    def __call__(self, rgb, disparity=None, baseline=None, **options):
        self.disparity = disparity
        return self.segmenter(rgb, disparity, baseline, **options)


def test_disparity_only_for_the_network_is_matched_at_the_networks_scale(
    processor: FrameProcessor,
) -> None:
    import dataclasses

    from ladderseg_ros.stereo import compute_disparity

    rng = np.random.default_rng(9)
    left = rng.integers(0, 256, (96, 256, 3), dtype=np.uint8)
    frame = StereoFrame(left, np.roll(left, -6, axis=1), geometry=FrameGeometry(100.0, 0.5))
    recording = _Recording(processor.segmenter)
    recording.segmenter.input_size = (128, 64)  # the network runs at half the camera's width
    sgbm = SgbmConfig(num_disparities=32, network_scale=0.5)
    local = FrameProcessor(recording, CITYSCAPES, sgbm)
    try:
        local.process(frame, Wanted(disparity=False, color=False, overlay=False))
        # half the network's size, handed over at the size it was matched at (not upsampled)
        at_network = compute_disparity(
            frame.left, frame.right, dataclasses.replace(sgbm, scale=0.25), at_matched_size=True
        )
        assert at_network.shape == (24, 64)
        np.testing.assert_array_equal(recording.disparity, at_network)
        # the disparity output (and the cloud) keep camera resolution matching
        result = local.process(frame, Wanted(disparity=True, color=False, overlay=False))
        at_camera = compute_disparity(frame.left, frame.right, sgbm)
        np.testing.assert_array_equal(recording.disparity, at_camera)
        np.testing.assert_array_equal(result.outputs.disparity, at_camera)
        assert not np.array_equal(at_camera, at_network)
    finally:
        recording.segmenter.input_size = None


def test_topic_mode_samples_a_received_disparity_at_the_networks_size() -> None:
    """A camera whose network size (rounded to the stride) misses its aspect: the map is
    sampled at the network's size when only the network reads it (1242x375 maps were once
    refused there), and kept whole when an output needs it."""
    import torch

    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.inference.backends import TorchBackend
    from ladderseg_ros.io.pipeline import MessagePipeline
    from ladderseg_ros.model import build_model
    from ladderseg_ros.ros import conversions
    from ladderseg_ros.weights import WeightsMetadata

    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss", num_classes=19).eval()
    meta = WeightsMetadata.for_label_set(
        model.config, "cityscapes", input_size=(256, 128), focal_length=128.0
    )
    segmenter = Segmenter(TorchBackend(model, "cpu", threads=1), meta)
    processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig(num_disparities=16))
    pipeline = MessagePipeline(processor, "topic", ["left", "disparity"], conversions.RCLPY)
    width, height = 310, 94  # fx 155: network 256x64 (rounded), not the camera's aspect
    left = conversions.array_to_image(np.zeros((height, width, 3), np.uint8), "rgb8")
    disp = conversions.disparity_to_msg(
        np.full((height, width), 6.2, np.float32), 155.0, 0.5, delta_d=1 / 16
    )
    assert segmenter.network_size(width, height, 155.0) == (256, 64)
    frame, _ = pipeline.frame([left, disp], 1 << 24, Wanted(disparity=False))
    assert frame.disparity.shape == (64, 256)  # sampled, in pixels of its own width
    np.testing.assert_allclose(frame.disparity, 6.2 * 256 / 310, rtol=1e-6)
    assert frame.geometry.focal == pytest.approx(155.0)  # the left image's pixels
    out = pipeline.run([left, disp], Wanted(disparity=False), 1 << 24)
    assert out.result.outputs.labels.shape == (height, width)
    frame, _ = pipeline.frame([left, disp], 1 << 24, Wanted(disparity=True))
    assert frame.disparity.shape == (height, width)


def _tiny_ss_segmenter(max_network_pixels: int | None = None, onnx_folder=None):
    import torch

    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.inference.backends import OnnxRuntimeBackend, TorchBackend
    from ladderseg_ros.inference.export import export_onnx
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata

    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss", num_classes=19).eval()
    meta = WeightsMetadata.for_label_set(
        model.config, "cityscapes", input_size=(256, 128), focal_length=128.0
    )
    if onnx_folder is not None:
        backend = OnnxRuntimeBackend(export_onnx(model, meta, onnx_folder / "w.onnx"), "cpu", 1)
    else:
        backend = TorchBackend(model, "cpu", threads=1)
    return Segmenter(backend, meta, None, max_network_pixels)


def test_a_tiny_network_still_gets_its_few_pixels_of_disparity() -> None:
    """1/8 of a 64x64 network on a 640x192 camera is an 8x2 map: each side rounded, its
    aspect is off, and it was refused on every frame unless ~/disparity was subscribed."""
    segmenter = _tiny_ss_segmenter(max_network_pixels=64 * 64)
    processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig(num_disparities=16))
    rng = np.random.default_rng(2)
    left = rng.integers(0, 256, (192, 640, 3), np.uint8)
    frame = StereoFrame(left, np.roll(left, -4, axis=1), geometry=FrameGeometry(128.0, 0.5))
    assert segmenter.network_size(640, 192, 128.0) == (64, 64)
    result = processor.process(frame, Wanted(disparity=False, color=False, overlay=False))
    assert result.outputs.labels.shape == (192, 640)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("map_size", [(155, 47), (310, 94), (620, 188)])
def test_topic_mode_labels_do_not_depend_on_who_listens(map_size, backend, tmp_path) -> None:
    """A received disparity smaller than, as large as and larger than the image: the network
    reads the same pixels whether or not ~/disparity wants the map at the image's size."""
    from ladderseg_ros.io.pipeline import MessagePipeline
    from ladderseg_ros.ros import conversions

    segmenter = _tiny_ss_segmenter(onnx_folder=tmp_path if backend == "onnxruntime" else None)
    processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig(num_disparities=16))
    pipeline = MessagePipeline(processor, "topic", ["left", "disparity"], conversions.RCLPY)
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (94, 310, 3), np.uint8)
    left = conversions.array_to_image(pixels, "rgb8")
    values = rng.uniform(1.0, 30.0, (map_size[1], map_size[0])).astype(np.float32)
    disp = conversions.disparity_to_msg(values, 155.0 * map_size[0] / 310, 0.5, delta_d=1 / 16)
    quiet = pipeline.run([left, disp], Wanted(disparity=False), 1 << 24).result.outputs.labels
    heard = pipeline.run([left, disp], Wanted(disparity=True), 1 << 24).result.outputs.labels
    np.testing.assert_array_equal(quiet, heard)


@pytest.mark.parametrize(
    ("network", "camera"),
    [
        ((64, 64), (1024, 448)),
        ((48, 20), (1242, 375)),
        ((320, 192), (97, 61)),
        ((8, 200), (300, 7)),
    ],
)
def test_colours_made_at_the_networks_size_equal_the_camera_size_palette(
    network: tuple[int, int], camera: tuple[int, int]
) -> None:
    import cv2

    from ladderseg_ros.classes import apply_palette, palette_lut
    from ladderseg_ros.frames.processor import label_colors
    from ladderseg_ros.inference.segmenter import SegmentationResult

    small = np.random.default_rng(network[0]).integers(0, 19, network[::-1], np.uint8)
    labels = cv2.resize(small, camera, interpolation=cv2.INTER_NEAREST)  # resize_nearest
    lut = palette_lut(CITYSCAPES)
    colors = label_colors(SegmentationResult(labels, None, None, small), lut)
    assert colors.shape == (camera[1], camera[0], 3)
    np.testing.assert_array_equal(colors, apply_palette(labels, lut))
    np.testing.assert_array_equal(
        label_colors(SegmentationResult(labels, None), lut), apply_palette(labels, lut)
    )


def test_the_cpu_segmenters_colours_are_the_palette_of_its_labels(tmp_path) -> None:
    from ladderseg_ros.classes import apply_palette, palette_lut
    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes", input_size=(64, 32))
    path = save_weights(tmp_path / "plain.safetensors", model, meta)
    rng = np.random.default_rng(3)
    camera = rng.integers(0, 256, (75, 242, 3), np.uint8)
    for backend in ("onnxruntime", "torch"):
        segmenter = Segmenter.from_weights(path, backend, "cpu")
        processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig())
        out = processor.process(StereoFrame(camera), Wanted(disparity=False)).outputs
        seg = segmenter(camera)
        width, height = segmenter.network_size(242, 75)  # resized on the CPU
        assert seg.network_labels.shape == (height, width) != (75, 242)
        np.testing.assert_array_equal(out.labels, seg.labels)
        np.testing.assert_array_equal(out.color, apply_palette(out.labels, palette_lut(CITYSCAPES)))


def test_outputs_are_handed_over_as_each_is_made(processor: FrameProcessor) -> None:
    from ladderseg_ros.groups import load_groups

    geometry = FrameGeometry(100.0, 0.5, cx_offset=0.0, projection=P_LEFT)
    frame = StereoFrame(LEFT, RIGHT, geometry=geometry)
    processor.groups = load_groups(GROUPS_FILE, CITYSCAPES)
    seen: list[tuple[str, list[str]]] = []

    def ready(result, name: str) -> None:
        made = [
            k
            for k in ("disparity", "labels", "confidence", "color", "overlay", "groups", "points")
            if getattr(result.outputs, k) is not None
        ]
        seen.append((name, made))
        if name == "disparity":  # with its range, before the network ran
            assert result.max_disparity == result.num_disparities > 0

    try:
        result = processor.process(frame, Wanted(groups=True, points=True), ready)
    finally:
        processor.groups = None
    order = ["disparity", "labels", "confidence", "color", "overlay", "groups", "points"]
    assert [name for name, _ in seen] == order
    for i, (name, made) in enumerate(seen):
        assert made == order[: i + 1], name  # each handed over when set, none before
    assert result.outputs.points is not None
    seen.clear()
    processor.process(frame, Wanted(color=False, disparity=False, confidence=False), ready)
    assert [name for name, _ in seen] == ["labels", "overlay"]


def test_the_pipeline_publishes_each_message_as_its_output_is_made(
    processor: FrameProcessor,
) -> None:
    from sensor_msgs.msg import Image
    from stereo_msgs.msg import DisparityImage

    from ladderseg_ros.io.pipeline import MessagePipeline
    from ladderseg_ros.ros import conversions

    pipeline = MessagePipeline(processor, "topic", ["left", "disparity"], conversions.RCLPY)
    left = conversions.array_to_image(LEFT, "rgb8")
    disparity = conversions.disparity_to_msg(
        np.full((H, W), 4.0, np.float32), 100.0, 0.5, delta_d=0.25, max_disparity=8.0
    )
    published: list[tuple[str, object]] = []
    done = pipeline.run(
        [left, disparity], Wanted(), 1 << 24, publish=lambda k, m: published.append((k, m))
    )
    names = ["disparity", "labels", "confidence", "color", "overlay"]
    assert [k for k, _ in published] == names
    assert list(done.messages) == names
    assert all(done.messages[k] is m for k, m in published)  # the same messages, built once
    assert isinstance(done.messages["disparity"], DisparityImage)
    assert all(isinstance(done.messages[k], Image) for k in names[1:])
    published.clear()
    done = pipeline.run(
        [left, disparity],
        Wanted(),
        1 << 24,
        encode={"labels"},
        publish=lambda k, m: published.append((k, m)),
    )
    assert [k for k, _ in published] == list(done.messages) == ["labels"]


@pytest.mark.parametrize("source", ["left image", "received disparity", "stereo pair"])
def test_warm_up_builds_every_session_the_live_frames_of_its_size_use(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After ``warm_up`` on a frame, live frames of its size build no session, whichever
    outputs are wanted (ONNX Runtime keys its sessions by sizes and confidence)."""
    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))
    model = build_model("ldn_tiny" if source == "left image" else "ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    path = save_weights(tmp_path / "w.safetensors", model, meta)
    segmenter = Segmenter.from_weights(path, "onnxruntime", "cpu", input_size=(W, H))
    processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig(num_disparities=16))
    geometry = FrameGeometry(100.0, 0.5, projection=P_LEFT)

    def frame(left: np.ndarray) -> StereoFrame:
        if source == "received disparity":
            return StereoFrame(left, disparity=np.full((H, W), 4.0, np.float32), geometry=geometry)
        return StereoFrame(left, RIGHT if source == "stereo pair" else None, geometry=geometry)

    calls = processor.warm_up(frame(np.zeros_like(LEFT)), calls_max=20)
    sessions = segmenter.backend.session_threads()
    assert calls >= len(sessions) >= 2  # with and without confidence at least
    off = Wanted(labels=False, color=False, overlay=False, confidence=False, disparity=False)
    for wanted in [
        Wanted(labels=True, color=False, overlay=False, confidence=False, disparity=False),
        Wanted(),
        Wanted(confidence=False),
        Wanted(points=True),
        dataclasses.replace(off, disparity=True, color=True),
        dataclasses.replace(off, points=True),
    ]:
        processor.process(frame(LEFT), wanted)
        assert segmenter.backend.session_threads() == sessions, wanted


def test_warm_up_builds_the_sessions_of_a_received_disparity_sampled_at_the_networks_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network smaller than the camera (here clamped by ``max_network_pixels``): the node's
    pipeline samples a received disparity that only the network reads at the network's size
    (``MessagePipeline.frame``), a session of its own, which ``warm_up`` builds too."""
    import itertools

    from ladderseg_ros.inference import Segmenter
    from ladderseg_ros.io.pipeline import MessagePipeline
    from ladderseg_ros.model import build_model
    from ladderseg_ros.ros import conversions
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))
    width, height, focal = 128, 128, 100.0
    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(
        model.config, "cityscapes", input_size=(width, height), focal_length=focal
    )
    path = save_weights(tmp_path / "w.safetensors", model, meta)
    segmenter = Segmenter.from_weights(path, "onnxruntime", "cpu", max_network_pixels=64 * 64)
    assert segmenter.network_size(width, height, focal) == (64, 64)
    processor = FrameProcessor(segmenter, CITYSCAPES, SgbmConfig(num_disparities=16))
    blank = StereoFrame(  # the lifecycle node's warm-up frame
        np.zeros((height, width, 3), np.uint8),
        disparity=np.full((height, width), 8.0, np.float32),
        geometry=FrameGeometry(focal, 0.5),
    )
    processor.warm_up(blank, calls_max=20)
    sessions = segmenter.backend.session_threads()
    pipeline = MessagePipeline(processor, "topic", ["left", "disparity"], conversions.RCLPY)
    pixels = np.random.default_rng(3).integers(0, 256, (height, width, 3), np.uint8)
    left = conversions.array_to_image(pixels, "rgb8")
    disparity = conversions.disparity_to_msg(
        np.full((height, width), 6.0, np.float32), focal, 0.5, delta_d=1 / 16
    )
    for labels, confidence, disp in itertools.product([False, True], repeat=3):
        wanted = Wanted(labels, False, False, confidence, disp)
        pipeline.run([left, disparity], wanted, 1 << 24)
        assert segmenter.backend.session_threads() == sessions, wanted
