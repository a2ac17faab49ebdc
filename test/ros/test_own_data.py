"""Your own data end to end: a CVAT export and a Vistas folder of six classes of their own,
fine-tuned from the shipped image-only weights, predicted, and served by the node."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from own_data import NAMES, SHARED, SIX, write_cvat_export, write_vistas_folder
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from waiting import spin_until

from ladderseg_ros.cli.main import main
from ladderseg_ros.training.config import config_from_dict
from ladderseg_ros.training.train import Trainer
from ladderseg_ros.weights import load_weights, read_metadata

MONO = (
    Path(__file__).resolve().parents[2] / "ladderseg_ros" / "assets" / "ldn_demo_mono.safetensors"
)


@pytest.fixture(scope="module")
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.shutdown()


def _config(root: Path, out: Path, **data: object) -> dict:
    return {
        "data": {"dataset": "folder", "root": str(root), **data},
        "model": {"variant": "ldn_demo_lean", "init_weights": str(MONO)},
        "augment": {"crop_width": 128, "crop_height": 64, "scale_min": 0.9, "scale_max": 1.1},
        "optim": {"lr": 1e-4, "lr_min": 1e-5},
        "run": {
            "output_dir": str(out),
            "batch_size": 2,
            "epochs": 1,
            "device": "cpu",
            "amp": False,
            "threads": 2,
        },
    }


def _head_rows(model: object) -> tuple[np.ndarray, np.ndarray]:
    conv = model.head.conv  # type: ignore[attr-defined]
    return conv.weight.detach().numpy().copy(), conv.bias.detach().numpy().copy()


def _fine_tune(values: dict, caplog: pytest.LogCaptureFixture, merged: bool = False) -> Path:
    """Trains; checks the head rows at the start against the shipped weights; returns weights.

    ``merged``: the class set maps ``vehicle`` to car + truck + bus + train (source_names).
    """
    source, meta = load_weights(MONO)
    src_w, src_b = _head_rows(source)
    with caplog.at_level(logging.INFO, logger="ladderseg_ros.weights"):
        trainer = Trainer(config_from_dict(values))
    assert trainer.label_set.names == NAMES
    w, b = _head_rows(trainer.model)
    for i, name in enumerate(NAMES):
        if name in SHARED:  # carried over from the class of the same name
            j = meta.class_names.index(SHARED[name])
            np.testing.assert_array_equal(w[i], src_w[j])
            assert b[i] == src_b[j]
        elif name == "vehicle" and merged:
            rows = [meta.class_names.index(n) for n in ("car", "truck", "bus", "train")]
            np.testing.assert_allclose(w[i], src_w[rows].mean(0), rtol=1e-6)
        else:  # fresh
            assert not any(np.array_equal(w[i], row) for row in src_w)
    log = caplog.text
    if merged:
        assert "carried over for 5: Road <- road, sidewalk <- sidewalk, Vegetation <- " in log
        assert "vehicle <- car + truck + bus + train; new (fresh rows) 1: structure" in log
    else:
        assert "head rows carried over for 4: Road <- road, sidewalk <- sidewalk" in log
        assert "new (fresh rows) 2: vehicle, structure" in log
    trainer.fit()
    return trainer.finish()


def _predict_and_serve(weights: Path, images: Path, out: Path, groups: list | None = None) -> None:
    meta = read_metadata(weights)
    assert meta.class_names == NAMES
    assert meta.class_colors == tuple(color for _, color, _ in SIX)
    assert main(["predict", str(weights), str(images), str(out), "--backend", "torch"]) == 0
    written = sorted(out.glob("*_labelTrainIds.png"))
    assert len(written) == len(list(images.iterdir()))
    from PIL import Image

    for path in written:
        labels = np.asarray(Image.open(path))
        assert labels.max() < len(NAMES)  # the new index space
        color = np.asarray(Image.open(str(path).replace("_labelTrainIds", "_color")).convert("RGB"))
        palette = np.array([c for _, c, _ in SIX], np.uint8)
        np.testing.assert_array_equal(color, palette[labels])  # the class set's colours
    _check_label_info(weights, groups)


def _check_label_info(weights: Path, groups: list | None) -> None:
    from ladderseg_ros.ros.node import LadderSegNode

    node = LadderSegNode(
        parameter_overrides=[
            Parameter("weights", value=str(weights)),
            Parameter("backend", value="torch"),
        ]
    )
    tester = rclpy.create_node("own_data_tester")
    got: list[str] = []
    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    tester.create_subscription(
        String, "/ladderseg/label_info", lambda m: got.append(m.data), latched
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(tester)
    try:
        spin_until(lambda: bool(got), 20.0, "~/label_info", executor=executor)
    finally:
        executor.shutdown()
        tester.destroy_node()
        node.destroy_node()
    info = json.loads(got[-1])
    assert [c["name"] for c in info["classes"]] == list(NAMES)
    assert [tuple(c["color"]) for c in info["classes"]] == [c for _, c, _ in SIX]
    if groups is None:
        assert "groups" not in info
    else:  # the groups the weights carry, with no groups file
        got_groups = info["groups"]["classes"]
        assert [(g["name"], g["class_ids"]) for g in got_groups] == [
            (g["name"], [NAMES.index(c) for c in g["classes"]]) for g in groups
        ]


def test_cvat_export_fine_tuned_predicted_and_served(
    tmp_path: Path, ros: None, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_cvat_export(tmp_path / "cvat")
    weights = _fine_tune(_config(root, tmp_path / "run"), caplog)
    _predict_and_serve(weights, root / "JPEGImages", tmp_path / "pred")


def test_vistas_folder_fine_tuned_predicted_and_served(
    tmp_path: Path, ros: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The Vistas config.json, written as a class set file and given a map and groups."""
    root = write_vistas_folder(tmp_path / "vistas")
    assert main(["classes", str(root / "config.json"), "--write", str(tmp_path / "c.yaml")]) == 0
    doc = yaml.safe_load((tmp_path / "c.yaml").read_text())
    doc["source_names"] = {"vehicle": ["car", "truck", "bus", "train"]}
    doc["groups"] = [
        {"name": "free", "color": [0, 255, 0], "classes": ["Road"]},
        {"name": "obstacles", "color": [255, 0, 0], "classes": ["vehicle", "structure"]},
    ]
    (tmp_path / "classes.yaml").write_text(yaml.safe_dump(doc))
    values = _config(root, tmp_path / "run", classes=str(tmp_path / "classes.yaml"))
    weights = _fine_tune(values, caplog, merged=True)
    _predict_and_serve(weights, root / "validation" / "images", tmp_path / "pred", doc["groups"])
