"""The demo end to end with the real node in a subprocess (tiny weights, tiny drive).

rclpy and the node's subprocess talk on loopback in a private DDS domain.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ladderseg_ros import cli
from ladderseg_ros.tools.demo import (
    DEFAULT_WEIGHTS,
    DemoConfig,
    DemoError,
    _prepare_out,
    _publish_out,
    run_demo,
)

SIZE = (96, 48)
FRAMES = 4


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, meta)


@pytest.fixture(autouse=True)
def private_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(100 + (os.getpid() + 37) % 100))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def demo_config(weights: Path, out: Path, *node_params: str) -> DemoConfig:
    params = ("sgbm_num_disparities:=16", *node_params)
    return DemoConfig(out=out, weights=weights, frames=FRAMES, size=SIZE, node_params=params)


def test_demo_runs_the_node_and_writes_results(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    report = run_demo(demo_config(weights, out))
    assert 1 <= report.frames_received <= report.frames_published == FRAMES
    assert report.confusion is not None and report.miou is not None
    assert report.confusion.total == report.frames_received * SIZE[0] * SIZE[1]
    assert 0 < report.latency_median_ms <= report.latency_p95_ms < 30_000
    assert report.processing_ms is None or report.processing_ms > 0
    names = {p.name for p in out.iterdir()}
    assert {"contact_sheet.png", "demo.mp4", "summary.txt", "node.log", "drive_bag"} <= names
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet.shape[1] == 4 * SIZE[0] and sheet.shape[0] >= SIZE[1]
    capture = cv2.VideoCapture(str(out / "demo.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == report.frames_received
    assert "mIoU against the ground truth" in (out / "summary.txt").read_text()
    assert "Traceback" not in (out / "node.log").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no partial directory left


def test_node_failure_shows_its_log_and_leaves_nothing(weights: Path, tmp_path: Path) -> None:
    config = demo_config(weights, tmp_path / "demo", "sgbm_block_size:=4")
    with pytest.raises(DemoError, match=r"(?s)exited with code \d+:.*sgbm_block_size"):
        run_demo(config)
    assert list(tmp_path.iterdir()) == []


def test_missing_weights_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.safetensors"
    with pytest.raises(DemoError, match="nothing.safetensors not found"):
        run_demo(DemoConfig(out=tmp_path / "demo", weights=missing))
    if not DEFAULT_WEIGHTS.exists():
        assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 2
        assert str(DEFAULT_WEIGHTS) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_output_directory_refused_or_replaced_whole(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(DemoError, match="not empty; use --force"):
        run_demo(demo_config(weights, out))
    assert (out / "old.txt").read_text() == "old"
    work = _prepare_out(out, force=True)
    (work / "new.txt").write_text("new")
    assert (out / "old.txt").exists()  # untouched until the new results are complete
    _publish_out(work, out)
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    np.testing.assert_equal((out / "new.txt").read_text(), "new")
