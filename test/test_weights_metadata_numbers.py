"""Every number in a weights file's metadata is validated before anything is built.

The kind: metadata is input like any other. A NaN mean, an absurd growth rate, a negative
focal length... each gets one line naming the file and the field, and no network is allocated
for a size that could never be a LadderSeg.
"""

from __future__ import annotations

import json
import resource

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ladderseg_ros.cli.main import main
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsError, WeightsMetadata, load_weights, save_weights


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss")
    meta = WeightsMetadata.for_label_set(
        model.config, "cityscapes", input_size=(128, 64), focal_length=74.3
    )
    return save_weights(tmp_path_factory.mktemp("w") / "good.safetensors", model, meta)


def _mutated(good, tmp_path, name: str, mutate) -> str:
    with safe_open(str(good), framework="pt") as f:
        header = dict(f.metadata())
    data = json.loads(header["ladderseg"])
    mutate(data)
    header["ladderseg"] = json.dumps(data)
    path = tmp_path / f"{name}.safetensors"
    save_file(load_file(str(good)), str(path), metadata=header)
    return str(path)


def _set(*keys, value):
    def mutate(data: dict) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


CASES = [
    ("mean_nan", _set("mean", value=[float("nan"), 0.4, 0.4]), "mean must hold 3 numbers"),
    ("std_zero", _set("std", value=[0.2, 0.0, 0.2]), "std must hold 3 numbers"),
    ("std_inf", _set("std", value=[0.2, float("inf"), 0.2]), "std must hold 3 numbers"),
    ("mean_text", _set("mean", value=["a", 0.4, 0.4]), "mean must be a number"),
    (
        "growth_huge",
        _set("model", "backbone", "growth_rate", value=100000),
        "growth_rate must be in 1..128",
    ),
    (
        "growth_256",
        _set("model", "backbone", "growth_rate", value=256),
        "growth_rate must be in 1..128",
    ),
    (
        "growth_float",
        _set("model", "backbone", "growth_rate", value=8.5),
        "growth_rate must be an integer",
    ),
    (
        "blocks_zero",
        _set("model", "backbone", "block_config", value=[2, 0, 2, 2]),
        "block_config must be in 1..64",
    ),
    ("bn_size", _set("model", "backbone", "bn_size", value=-1), "bn_size must be in 1..8"),
    ("stem", _set("model", "backbone", "stem_pool", value="avg9"), "stem_pool must be one of"),
    ("classes", _set("model", "num_classes", value=100000), "num_classes must be in 1..255"),
    ("spp_grid", _set("model", "spp_grids", value=[8, -4]), "spp_grids must be in 1..64"),
    ("up_widths", _set("model", "up_widths", value=[32, 32]), "up_widths needs one width per skip"),
    (
        "ss_factor",
        _set("model", "scale_selection", "factor", value=float("nan")),
        "scale_selection.factor",
    ),
    (
        "ss_levels",
        _set("model", "scale_selection", "num_levels", value=10**6),
        "scale_selection.num_levels",
    ),
    (
        "ss_sizes",
        _set("model", "scale_selection", "reference_sizes", value=[1.0, -4.0]),
        "reference_sizes",
    ),
    ("input_size", _set("input_size", value=[0, 64]), "input_size must be"),
    ("focal_neg", _set("focal_length", value=-74.3), "focal_length must be"),
    ("focal_nan", _set("focal_length", value=float("nan")), "focal_length must be"),
]


@pytest.mark.parametrize(("name", "mutate", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_number_is_one_line_naming_file_and_field(
    good, tmp_path, capsys, name, mutate, message
) -> None:
    path = _mutated(good, tmp_path, name, mutate)
    with pytest.raises(WeightsError, match=message) as caught:
        load_weights(path)
    assert str(caught.value).startswith(f"{path}: invalid metadata: ")
    assert main(["info", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert path in err
    assert message.split()[0] in err


def test_a_huge_network_is_refused_before_any_allocation(good, tmp_path) -> None:
    # Every field in range, yet a network of billions of parameters: refused from its shape.
    path = _mutated(
        good,
        tmp_path,
        "huge",
        lambda d: d["model"]["backbone"].update(growth_rate=128, block_config=[64, 64, 64, 64]),
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(WeightsError, match=r"huge.safetensors: model: .* M parameters"):
        load_weights(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100  # peak resident memory: nothing of the network was allocated


def test_the_valid_file_still_loads(good) -> None:
    _model, meta = load_weights(good)
    assert meta.focal_length == pytest.approx(74.3)
    assert meta.input_size == (128, 64)
