"""Weights files: round trip, validation, and clear errors on bad files."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch
from safetensors.torch import save_file

from ladderseg_ros.classes import get_label_set
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import (
    WeightsError,
    WeightsMetadata,
    load_weights,
    read_metadata,
    save_weights,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss")
    metadata = WeightsMetadata.for_label_set(
        model.config,
        "cityscapes",
        input_size=(128, 64),
        provenance={"data": "synthetic train", "commit": "abc123"},
        metrics={"val_miou": 0.5, "absent": float("nan")},
    )
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(path, model, metadata)
    return path, model, metadata


def test_round_trip_restores_model_and_metadata(saved) -> None:
    path, model, metadata = saved
    loaded, meta = load_weights(path)
    assert meta.model == metadata.model
    assert meta.class_names == metadata.class_names
    assert meta.input_size == (128, 64)
    assert meta.provenance == metadata.provenance
    assert meta.metrics["val_miou"] == 0.5
    assert not loaded.training
    image, disparity = torch.randn(1, 3, 64, 96), torch.rand(1, 1, 64, 96) * 30
    model.eval()
    with torch.no_grad():
        expected = model(image, disparity, torch.tensor([0.5]))["out"]
        assert torch.equal(loaded(image, disparity, torch.tensor([0.5]))["out"], expected)
    assert not list(path.parent.glob(".*tmp"))


def test_truncated_file_is_a_clear_error(saved, tmp_path) -> None:
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(saved[0].read_bytes()[:-1000])
    with pytest.raises(WeightsError, match="truncated.safetensors"):
        load_weights(path)


def test_garbage_and_missing_files(tmp_path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="garbage.safetensors"):
        load_weights(garbage)
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "absent.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(WeightsError, match="no ladderseg metadata"):
        load_weights(plain)


def _rewrite(src, dst, mutate_meta=None, mutate_tensors=None) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(src), framework="pt") as f:
        header = dict(f.metadata())
    tensors = load_file(str(src))
    if mutate_meta:
        data = json.loads(header["ladderseg"])
        mutate_meta(data)
        header["ladderseg"] = json.dumps(data)
    if mutate_tensors:
        mutate_tensors(tensors)
    save_file(tensors, str(dst), metadata=header)


def test_metadata_not_matching_tensors(saved, tmp_path) -> None:
    path = tmp_path / "other.safetensors"
    _rewrite(saved[0], path, lambda d: d["model"].update(spp_level_width=48))
    with pytest.raises(WeightsError, match=r"other.safetensors.*wrong shape"):
        load_weights(path)
    path = tmp_path / "plain_model.safetensors"
    _rewrite(saved[0], path, lambda d: d["model"].update(scale_selection=None))
    with pytest.raises(WeightsError, match="unexpected scale_selection"):
        load_weights(path)


def test_inconsistent_metadata(saved, tmp_path) -> None:
    path = tmp_path / "names.safetensors"
    _rewrite(saved[0], path, lambda d: d.update(class_names=d["class_names"][:3]))
    with pytest.raises(WeightsError, match="3 class names"):
        read_metadata(path)
    path = tmp_path / "future.safetensors"
    _rewrite(saved[0], path, lambda d: d.update(version=99))
    with pytest.raises(WeightsError, match="version"):
        load_weights(path)


def test_non_finite_tensors_rejected(saved, tmp_path) -> None:
    path = tmp_path / "nan.safetensors"

    def poison(tensors):
        tensors["head.conv.weight"][0] = float("nan")

    _rewrite(saved[0], path, mutate_tensors=poison)
    with pytest.raises(WeightsError, match=r"non-finite values in head\.conv\.weight"):
        load_weights(path)


def test_save_refuses_mismatched_metadata(saved, tmp_path) -> None:
    _, model, metadata = saved
    other = dataclasses.replace(metadata, model=build_model("ldn_tiny").config)
    with pytest.raises(WeightsError, match="differs"):
        save_weights(tmp_path / "x.safetensors", model, other)
    assert not (tmp_path / "x.safetensors").exists()


def test_metadata_errors_are_weights_errors() -> None:
    config = build_model("ldn_tiny").config  # 19 classes
    names = tuple(f"class{i}" for i in range(19))
    with pytest.raises(WeightsError, match="3 class names"):
        WeightsMetadata(model=config, label_set="mine", class_names=names[:3])
    with pytest.raises(WeightsError, match="std must hold"):
        WeightsMetadata(model=config, label_set="mine", class_names=names, std=(1.0, 0.0, 1.0))
    with pytest.raises(WeightsError, match="input_size"):
        WeightsMetadata(model=config, label_set="mine", class_names=names, input_size=(0, 5))
    assert WeightsMetadata(model=config, label_set="mine", class_names=names).class_names == names


def test_builtin_label_set_needs_its_class_names(saved, tmp_path) -> None:
    config = build_model("ldn_tiny").config
    names = tuple(get_label_set("cityscapes").names)
    swapped = (names[1], names[0], *names[2:])
    with pytest.raises(WeightsError, match="'cityscapes' is built in"):
        WeightsMetadata(model=config, label_set="cityscapes", class_names=swapped)
    path = tmp_path / "renamed.safetensors"
    _rewrite(saved[0], path, lambda d: d.update(class_names=["x", *d["class_names"][1:]]))
    with pytest.raises(WeightsError, match=r"renamed.safetensors.*built in"):
        read_metadata(path)


def test_save_is_atomic_overwrites_and_keeps_normal_permissions(saved, tmp_path) -> None:
    _, model, metadata = saved
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"old")
    save_weights(path, model, metadata)
    assert read_metadata(path).model == metadata.model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]  # no temp left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
