"""``ladderseg info``, ``export`` and ``predict`` end to end on tiny models and synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ladderseg_ros.cli.main import main
from ladderseg_ros.data.layouts import read_png, write_png
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w")
    paths = {}
    for name in ("ldn_tiny", "ldn_tiny_ss"):
        model = build_model(name)
        meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
        paths[name] = save_weights(folder / f"{name}.safetensors", model, meta)
    return paths


def test_info_prints_figures(capsys) -> None:
    assert main(["info", "ldn_tiny", "ldn_tiny_ss", "--size", "128x64"]) == 0
    out = capsys.readouterr().out
    assert "GFLOPs@128x64" in out
    assert "1/64" in out
    assert main(["info", "nonexistent_model"]) == 2


def test_export_with_check(weights, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", str(weights["ldn_tiny_ss"]), "--onnx", str(out), "--check"]) == 0
    assert out.is_file()
    assert "agree" in capsys.readouterr().out
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(weights["ldn_tiny"])]) == 2


def test_predict_folder_of_images(weights, tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    for name in ("a", "b"):
        write_png(images / f"{name}.png", rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["predict", str(weights["ldn_tiny"]), str(images), str(out)]) == 0
    labels = read_png(out / "a_labelTrainIds.png", color=False)
    assert labels.shape == (50, 70)
    assert labels.max() < 19
    assert read_png(out / "b_color.png").shape == (50, 70, 3)
    # A model that selects scales cannot run on lone images.
    assert main(["predict", str(weights["ldn_tiny_ss"]), str(images), str(out)]) == 2


@pytest.mark.parametrize("preset", ["cityscapes", "kitti"])
def test_predict_dataset_roots(weights, tmp_path, preset: str) -> None:
    root = tmp_path / preset
    split = ["--split", "val"] if preset == "cityscapes" else []
    synth = ["synth", "--preset", preset, "--frames", "2", "--size", "128x64", "--out", str(root)]
    assert main(synth + split) == 0
    out = tmp_path / "out"
    args = ["predict", str(weights["ldn_tiny_ss"]), str(root), str(out), "--split", "val"]
    assert main(args) == 0
    written = sorted(out.glob("*_labelTrainIds.png"))
    assert len(written) == 2
    assert read_png(written[0], color=False).shape == (64, 128)


def test_export_never_overwrites_without_force(weights, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"precious")
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["export", str(weights["ldn_tiny"]), "--onnx", str(out), "--force"]) == 0
    assert out.read_bytes() != b"precious"


def test_predict_resumes_an_interrupted_run(weights, tmp_path, capsys) -> None:
    """A run stopped after some images (here: one of three deleted, one half written)
    resumes on the same OUT; other weights or a foreign OUT are refused."""
    rng = np.random.default_rng(1)
    images = tmp_path / "images"
    for name in ("a", "b", "c"):
        write_png(images / f"{name}.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    out = tmp_path / "out"
    args = ["predict", str(weights["ldn_tiny"]), str(images), str(out)]
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    (out / "b_labelTrainIds.png").unlink()
    (out / "b_color.png").unlink()
    (out / "c_color.png").unlink()  # interrupted between c's two files
    capsys.readouterr()
    assert main(args) == 0
    assert "resumed: 1 were there" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == first
    import dataclasses

    from ladderseg_ros.weights import load_weights, save_weights

    model, meta = load_weights(weights["ldn_tiny"])  # the same network, other weights
    retrained = dataclasses.replace(meta, provenance={"run": "another"})
    other_weights = save_weights(tmp_path / "other.safetensors", model, retrained)
    other = ["predict", str(other_weights), str(images), str(out)]
    assert main(other) == 2
    assert "other weights_sha256" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    write_png(foreign / "mine.png", np.zeros((2, 2, 3), np.uint8))
    assert main(["predict", str(weights["ldn_tiny"]), str(images), str(foreign)]) == 2
    assert "no predict run wrote it" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "segment-bag"])
def test_device_takes_a_gpu_index_and_names_a_bad_one(command: str, capsys) -> None:
    from ladderseg_ros.cli.main import build_parser

    parser = build_parser()
    positional = ["w.safetensors", "in", "out"] if command == "predict" else ["in", "out"]
    weights = [] if command == "predict" else ["--weights", "w.safetensors"]
    args = parser.parse_args([command, *positional, *weights, "--device", "cuda:1"])
    assert args.device == "cuda:1"
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([command, *positional, *weights, "--device", "cuda:one"])
    assert exit_info.value.code == 2
    assert "after cuda: comes a GPU index 0, 1, 2, ... as in cuda:1" in capsys.readouterr().err
