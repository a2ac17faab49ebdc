"""YAML configs and overrides: typed, validated, and every shipped config loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ladderseg_ros.training.config import ConfigError, TrainConfig, load_config


def test_overrides_are_typed(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("run:\n  epochs: 3\noptim:\n  lr: 0.001\n")
    c = load_config(p, ["run.epochs=5", "optim.lr=1", "data.num_train=null", "model.variant=x"])
    assert isinstance(c, TrainConfig)
    assert c.run.epochs == 5
    assert c.optim.lr == 1.0
    assert isinstance(c.optim.lr, float)
    assert c.data.num_train is None
    assert c.model.variant == "x"


@pytest.mark.parametrize(
    ("text", "overrides", "match"),
    [
        ("run:\n  epochs: 3\n", ["run.epochs=three"], "run.epochs"),
        ("run:\n  epoch: 3\n", [], "epoch"),
        ("run: [1\n", [], "YAML"),
        ("", ["lr=1"], "section.key"),
        ("", ["run.epochs:=1"], r"written section.key=value, e.g. run.epochs=1 \(NAME:=VALUE"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, overrides: list, match: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p, overrides)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_configs_load(repo_root: Path) -> None:
    from ladderseg_ros.model import VARIANTS

    files = sorted((repo_root / "config" / "training").glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        c = load_config(f)
        assert c.model.variant in VARIANTS, f


def test_synthetic_disparity_reaches_the_dataset(repo_root: Path, tmp_path: Path) -> None:
    from ladderseg_ros.data.sample import DatasetError
    from ladderseg_ros.training.batching import build_dataset

    ss = load_config(repo_root / "config" / "training" / "synthetic_demo_ss.yaml")
    assert ss.data.synthetic_disparity == "sgbm"
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  synthetic_width: 96\n  synthetic_height: 32\n")
    c = load_config(p, ["data.synthetic_disparity=sgbm"])
    assert build_dataset(c.data, "val", True, 1).config.disparity == "sgbm"
    # A model without disparity input is not given SGBM's cost.
    assert build_dataset(c.data, "val", False, 1).config.disparity == "exact"
    bad = load_config(p, ["data.synthetic_disparity=stereo"])
    with pytest.raises(DatasetError, match="'stereo'"):
        build_dataset(bad.data, "val", True, 1)


def test_resume_compares_options_newer_than_the_checkpoint() -> None:
    """A checkpoint written before data.synthetic_disparity existed trained on the default
    (exact): resuming it with sgbm is a different run, the default is not."""
    from ladderseg_ros.training.train import _config_diff

    current = TrainConfig().to_dict()
    saved = TrainConfig().to_dict()
    del saved["data"]["synthetic_disparity"]
    assert _config_diff(saved, current) == []
    current["data"]["synthetic_disparity"] = "sgbm"
    assert _config_diff(saved, current) == ["data.synthetic_disparity"]


def test_varied_cameras_reach_the_dataset(repo_root: Path, tmp_path: Path) -> None:
    """data.synthetic_cameras=varied: the training split renders jittered crop windows at the
    trained focal, validation whole images at exactly that focal; ranges come from YAML."""
    from ladderseg_ros.data.sample import DatasetError
    from ladderseg_ros.training.batching import build_dataset

    shipped = load_config(repo_root / "config" / "training" / "synthetic_varied_ss.yaml")
    assert shipped.data.synthetic_cameras == "varied"
    assert shipped.data.synthetic_focal > 0
    p = tmp_path / "c.yaml"
    p.write_text(
        "data:\n  synthetic_width: 96\n  synthetic_height: 32\n  synthetic_cameras: varied\n"
        "  synthetic_focal: 60\n  synthetic_scale_min: 0.8\n  synthetic_scale_max: 1.25\n"
        "  synthetic_presets: cityscapes\n  synthetic_focal_min: 0.7\n"
    )
    c = load_config(p, ["data.synthetic_weather=0.5"])
    train = build_dataset(c.data, "train", False, 2).config
    val = build_dataset(c.data, "val", False, 2).config
    assert train.cameras == val.cameras
    assert train.cameras.presets == ("cityscapes",)
    assert train.cameras.focal_factor == (0.7, 2.0)
    assert train.cameras.weather == 0.5
    assert train.focal == 60.0
    assert train.window
    assert train.scale == (0.8, 1.25)
    assert not val.window
    assert val.scale == (1, 1)
    assert build_dataset(c.data, "train", False, 2)[0].image.shape[1] <= 96
    with pytest.raises(DatasetError, match="'zoom'"):
        build_dataset(load_config(p, ["data.synthetic_cameras=zoom"]).data, "val", False, 1)
    with pytest.raises(DatasetError, match="presets"):
        build_dataset(load_config(p, ["data.synthetic_presets=zed"]).data, "val", False, 1)
