"""The trained scale: every image is resized so the network sees objects as in training."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ladderseg_ros.cli.main import main
from ladderseg_ros.data.layouts import read_png
from ladderseg_ros.inference import Segmenter
from ladderseg_ros.inference.backends import TorchBackend
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights


class _Recording(TorchBackend):
    """The real torch backend, remembering the (H, W) of every network input."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model, "cpu", False, 1)
        self.shapes: list[tuple[int, int]] = []
        self.disparity_max: list[float] = []
        self.model.register_forward_pre_hook(self._record)

    def _record(self, _module, inputs) -> None:
        image, disparity = inputs[0], inputs[1] if len(inputs) > 1 else None
        self.shapes.append(tuple(image.shape[-2:]))
        if disparity is not None:
            self.disparity_max.append(float(disparity.max()))


def _segmenter(name: str, input_size=None, focal=None, explicit=None) -> Segmenter:
    torch.manual_seed(0)
    model = build_model(name).eval()
    meta = WeightsMetadata.for_label_set(
        model.config, "cityscapes", input_size=input_size, focal_length=focal
    )
    return Segmenter(_Recording(model), meta, explicit)


def test_focal_length_sets_the_network_size() -> None:
    # Trained at 256x128 with fx 100 px; a 1024x512 camera with fx 400 px is 4x too large.
    seg = _segmenter("ldn_tiny", (256, 128), 100.0)
    result = seg(np.zeros((512, 1024, 3), np.uint8), focal_length=400.0)
    assert seg.backend.shapes == [(128, 256)]
    assert result.labels.shape == (512, 1024)
    assert result.confidence.shape == (512, 1024)
    # Another size and aspect: 600x260 at fx 200 -> 300x130 -> sides rounded to the output
    # stride (64), as the authors' evaluation does, instead of zero-padding the bottom: 320x128
    # is more than the trained 256x128 pixels (max_network_pixels), so 256x128.
    seg(np.zeros((260, 600, 3), np.uint8), focal_length=200.0)
    assert seg.backend.shapes[-1] == (128, 256)
    seg.max_network_pixels = None  # unbounded: the trained scale's own rounding
    seg(np.zeros((260, 600, 3), np.uint8), focal_length=200.0)
    assert seg.backend.shapes[-1] == (128, 320)
    assert seg.trained_size(2048, 1024, 2262.52) == (64, 64)  # never below one stride


def test_unknown_focal_falls_back_to_the_trained_width_and_none_to_own_size() -> None:
    seg = _segmenter("ldn_tiny", (256, 128), 100.0)
    seg(np.zeros((240, 640, 3), np.uint8))
    assert seg.backend.shapes == [(128, 256)]  # trained width, aspect kept: 256x96 -> 256x128
    plain = _segmenter("ldn_tiny")  # records no trained scale: each image at its own size
    plain(np.zeros((40, 70, 3), np.uint8), focal_length=500.0)
    assert plain.backend.shapes == [(40, 70)]


def test_disparity_is_rescaled_with_the_image() -> None:
    seg = _segmenter("ldn_tiny_ss", (256, 128), 100.0)
    disparity = np.full((256, 512), 40.0, np.float32)
    seg(np.zeros((256, 512, 3), np.uint8), disparity, 0.5, focal_length=200.0)
    assert seg.backend.shapes == [(128, 256)]
    assert seg.backend.disparity_max == [pytest.approx(20.0)]  # pixels of the network input


def test_explicit_size_wins_and_warns_once_when_far_from_trained(caplog) -> None:
    seg = _segmenter("ldn_tiny", (256, 128), 100.0, explicit=(512, 192))
    rgb = np.zeros((512, 1024, 3), np.uint8)
    with caplog.at_level(logging.WARNING, logger="ladderseg_ros.inference.segmenter"):
        seg(rgb, focal_length=400.0)  # the trained scale is 256 wide: 512 is 2x
        seg(rgb, focal_length=400.0)
    assert seg.backend.shapes == [(192, 512), (192, 512)]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "2.00x the scale" in warnings[0]
    assert "256x128, fx 100 px" in warnings[0]
    caplog.clear()
    near = _segmenter("ldn_tiny", (256, 128), 100.0, explicit=(320, 160))  # 1.25x: no word
    with caplog.at_level(logging.WARNING, logger="ladderseg_ros.inference.segmenter"):
        near(rgb, focal_length=400.0)
    assert not caplog.records


def _save(tmp_path, name: str, **meta) -> str:
    torch.manual_seed(0)
    model = build_model(name)
    metadata = WeightsMetadata.for_label_set(model.config, "cityscapes", **meta)
    return str(save_weights(tmp_path / f"{name}.safetensors", model, metadata))


def test_info_prints_the_trained_scale(tmp_path, capsys) -> None:
    weights = _save(tmp_path, "ldn_tiny", input_size=(640, 192), focal_length=371.81)
    assert main(["info", weights, "--size", "640x192"]) == 0
    assert f"{weights}: trained at 640x192, fx 371.81 px" in capsys.readouterr().out


def test_predict_on_plain_images(tmp_path, capsys, monkeypatch) -> None:
    from ladderseg_ros.data.layouts import write_png

    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        write_png(images / f"frame{i}.png", rng.integers(0, 256, (60, 200, 3), dtype=np.uint8))
    plain = _save(tmp_path, "ldn_tiny", input_size=(128, 64), focal_length=50.0)
    out = tmp_path / "out"
    assert main(["predict", plain, str(images), str(out), "--focal", "100"]) == 0
    labels = read_png(out / "frame0_labelTrainIds.png", color=False)
    assert labels.shape == (60, 200)
    assert labels.max() < 19
    ss = _save(tmp_path, "ldn_tiny_ss", input_size=(128, 64))
    assert main(["predict", ss, str(images), str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "ldn_tiny_ss) selects scales by disparity" in err
    assert "need no disparity" in err
    # refused before the export and the int8 calibration it would have cost
    from ladderseg_ros.inference import quantize

    calibrations: list[object] = []
    monkeypatch.setattr(quantize, "quantize_int8", lambda *a, **k: calibrations.append(a))
    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache_int8"))
    args = ["predict", ss, str(images), str(tmp_path / "out3"), "--backend", "onnxruntime"]
    assert main([*args, "--precision", "int8"]) == 2
    assert "selects scales by disparity" in capsys.readouterr().err
    assert calibrations == []
    assert not (tmp_path / "cache_int8").exists()
    assert not (tmp_path / "out3").exists()


def test_node_pipeline_reads_the_focal_length_from_camera_info() -> None:
    """The node's and segment-bag's per-frame path hands CameraInfo's fx to the Segmenter."""
    pytest.importorskip("sensor_msgs.msg")
    from sensor_msgs.msg import CameraInfo

    from ladderseg_ros.classes import CITYSCAPES
    from ladderseg_ros.frames.frame import Wanted
    from ladderseg_ros.frames.processor import FrameProcessor
    from ladderseg_ros.io.pipeline import MessagePipeline
    from ladderseg_ros.ros.conversions import RCLPY, array_to_image
    from ladderseg_ros.stereo import SgbmConfig

    seg = _segmenter("ldn_tiny_ss", (256, 128), 100.0)
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (256, 512, 3), dtype=np.uint8)
    right = np.roll(left, -8, axis=1)
    infos = []
    for tx in (0.0, -200.0 * 0.5):
        info = CameraInfo(width=512, height=256)
        info.p = [200.0, 0.0, 256.0, tx, 0.0, 200.0, 128.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        infos.append(info)
    pipeline = MessagePipeline(
        FrameProcessor(seg, CITYSCAPES, SgbmConfig(num_disparities=16)),
        "compute",
        ["l", "r"],
        RCLPY,
    )
    for side, info in zip(("left", "right"), infos, strict=True):
        pipeline.gate.add_info(side, info)
    msgs = (array_to_image(left, "rgb8"), array_to_image(right, "rgb8"))
    result = pipeline.run(msgs, Wanted(), 1 << 25).result
    assert result.focal == pytest.approx(200.0)
    assert seg.backend.shapes == [(128, 256)]  # 512x256 at fx 200 -> trained fx 100
    assert result.outputs.labels.shape == (256, 512)


def test_mono_pipeline_reads_the_left_focal_length_when_it_fits() -> None:
    pytest.importorskip("sensor_msgs.msg")
    from sensor_msgs.msg import CameraInfo

    from ladderseg_ros.classes import CITYSCAPES
    from ladderseg_ros.frames.frame import Wanted
    from ladderseg_ros.frames.processor import FrameProcessor
    from ladderseg_ros.io.pipeline import MessagePipeline
    from ladderseg_ros.ros.conversions import RCLPY, array_to_image
    from ladderseg_ros.stereo import SgbmConfig

    seg = _segmenter("ldn_tiny", (256, 128), 100.0)

    def pipeline(info: CameraInfo | None) -> MessagePipeline:
        processor = FrameProcessor(seg, CITYSCAPES, SgbmConfig(num_disparities=16))
        made = MessagePipeline(processor, "mono", ["l"], RCLPY)
        if info is not None:
            made.gate.add_info("left", info)
        return made

    msgs = (array_to_image(np.zeros((256, 512, 3), np.uint8), "rgb8"),)
    info = CameraInfo(width=512, height=256)
    info.p = [400.0, 0.0, 256.0, 0.0, 0.0, 400.0, 128.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert pipeline(info).run(msgs, Wanted(), 1 << 25).result.focal == 400.0
    other = CameraInfo(width=1024, height=512)  # another camera size: not this image's fx
    other.p = list(info.p)
    assert pipeline(other).run(msgs, Wanted(), 1 << 25).result.focal is None
    pipeline(None).run(msgs, Wanted(), 1 << 25)
    # fx 400 -> 128x64; unknown fx -> the trained width, 256x128
    assert seg.backend.shapes == [(64, 128), (128, 256), (128, 256)]


def test_network_size_is_bounded_by_max_network_pixels() -> None:
    # the authors' scale (2048x1024, fx 2262.5) on a KITTI camera (1242x375, fx 721.5) wants
    # 3904x1152, 2.1x the trained pixels: clamped to the trained pixel count, aspect kept
    seg = _segmenter("ldn_tiny", (2048, 1024), 2262.5)
    assert seg.max_network_pixels == 2048 * 1024
    width, height = seg.trained_size(1242, 375, 721.5)
    assert width * height <= 2048 * 1024
    assert (width, height) == (2688, 768)
    line, clamped = seg.describe_scale(1242, 375, 721.5)
    assert clamped
    assert "network 2688x768 for 1242x375 images at fx 721.5 px" in line
    assert "wants 3904x1152, clamped to max_network_pixels=2097152" in line
    assert seg.describe_scale(1242, 375, 721.5) is None  # said once per camera
    # fx 1 px (P = identity) would be a 2262x upscale: never more than the bound
    assert np.prod(seg.trained_size(1242, 375, 1.0)) <= 2048 * 1024
    seg.max_network_pixels = 64 * 64 * 4
    assert seg.trained_size(1242, 375, 721.5) == (256, 64)
    seg.max_network_pixels = seg.default_max_network_pixels()
    unclamped = seg.describe_scale(2048, 1024, 2262.5)
    assert unclamped is not None
    assert not unclamped[1]


def test_mono_focal_from_an_implausible_camera_info_is_bad_camera_info() -> None:
    from sensor_msgs.msg import CameraInfo

    from ladderseg_ros.io.messages import BadMessageError, left_focal

    info = CameraInfo(width=1242, height=375)
    info.p = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0]  # P = identity
    with pytest.raises(BadMessageError, match="left/camera_info: fx 1 px is implausible") as e:
        left_focal(info, 1242, 375)
    assert e.value.kind == "bad_camera_info"
    info.p[0] = info.p[5] = 721.5
    assert left_focal(info, 1242, 375) == 721.5
    info.p[0] = info.k[0] = 0.0  # uncalibrated: the trained width sets the scale
    assert left_focal(info, 1242, 375) is None


def test_a_jittering_focal_length_is_described_once() -> None:
    seg = _segmenter("ldn_tiny", (2048, 1024), 2262.5)
    lines = [seg.describe_scale(1242, 375, 721.5 + i * 1e-6) for i in range(1000)]
    assert sum(line is not None for line in lines) == 1
    assert len(seg._described) == 1


def test_mono_focal_applies_binning_and_region_of_interest() -> None:
    from sensor_msgs.msg import CameraInfo

    from ladderseg_ros.io.messages import left_focal

    info = CameraInfo(width=2484, height=750, binning_x=2, binning_y=2)
    info.p = [1400.0, 0, 1242, 0, 0, 1400.0, 375, 0, 0, 0, 1.0, 0]
    assert left_focal(info, 1242, 375) == 700.0  # the binned image's pixels
    assert left_focal(info, 640, 192) is None  # another image: the trained width decides
    info.binning_x = info.binning_y = 0
    info.roi.width, info.roi.height, info.roi.x_offset = 1242, 375, 100
    assert left_focal(info, 1242, 375) == 1400.0  # a crop keeps fx
