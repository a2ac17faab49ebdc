"""Fine-tuning: a run starts from a LadderSeg weights file, tensor by tensor."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest
import torch

from ladderseg_ros.model import build_model
from ladderseg_ros.training.config import config_from_dict
from ladderseg_ros.training.train import Trainer
from ladderseg_ros.weights import (
    WeightsError,
    WeightsMetadata,
    init_from_weights,
    load_weights,
    save_weights,
)

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import tiny_config_values, write_cityscapes_fixture


def _saved(path: Path, variant: str, label_set: str = "cityscapes", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model(variant, 19 if label_set == "cityscapes" else 21)
    with torch.no_grad():  # BN statistics too, so that copying them is visible
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.uniform_(-1, 1)
    save_weights(path, model, WeightsMetadata.for_label_set(model.config, label_set))
    return path


@pytest.fixture(scope="module")
def ss_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved(tmp_path_factory.mktemp("w") / "ss.safetensors", "ldn_tiny_ss")


def test_twin_without_scale_selection_starts_from_every_shared_tensor(ss_file: Path) -> None:
    source, _ = load_weights(ss_file)
    torch.manual_seed(1)
    twin = build_model("ldn_tiny")
    fresh, unused = init_from_weights(twin, ss_file)
    assert fresh == []
    assert unused
    assert all(k.startswith("scale_selection.") for k in unused)
    expected = source.state_dict()
    for key, value in twin.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_scale_selection_model_from_plain_weights_keeps_its_projection_fresh(
    tmp_path: Path,
) -> None:
    plain = _saved(tmp_path / "plain.safetensors", "ldn_tiny", seed=2)
    torch.manual_seed(3)
    model = build_model("ldn_tiny_ss")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fresh, unused = init_from_weights(model, plain)
    assert unused == []
    assert fresh
    assert all(k.startswith("scale_selection.") for k in fresh)
    after = model.state_dict()
    for key in fresh:
        assert torch.equal(after[key], before[key]), key
    source, _ = load_weights(plain)
    for key, value in source.state_dict().items():
        assert torch.equal(after[key], value), key


def test_other_label_set_or_unrelated_network_is_refused(tmp_path: Path, ss_file: Path) -> None:
    voc = _saved(tmp_path / "voc.safetensors", "ldn_tiny_ss", label_set="voc")
    with pytest.raises(WeightsError, match=r"voc.safetensors: 21 classes \(voc\).*19"):
        init_from_weights(build_model("ldn_tiny_ss"), voc)
    with pytest.raises(WeightsError, match="ss.safetensors: .*shape"):
        init_from_weights(build_model("ldn_demo_ss"), ss_file)


def test_training_run_starts_from_the_file_and_records_it(tmp_path: Path, ss_file: Path) -> None:
    root = write_cityscapes_fixture(tmp_path / "cs")
    values = tiny_config_values(root, tmp_path / "run", variant="ldn_tiny")
    values["model"]["init_weights"] = str(ss_file)
    values["run"]["epochs"] = 1
    trainer = Trainer(config_from_dict(values))
    source, _ = load_weights(ss_file)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key
    trainer.fit()
    trainer.finish()
    _, meta = load_weights(tmp_path / "run" / "model.safetensors")
    assert meta.provenance["init_weights"] == "ss.safetensors"
    assert (
        meta.provenance["init_weights_sha256"] == hashlib.sha256(ss_file.read_bytes()).hexdigest()
    )


def test_init_weights_named_from_anywhere_and_errors_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ladderseg_ros.training.train import TrainError, build_network, resolve_init_weights

    monkeypatch.chdir(tmp_path)  # not the repository: the config's relative path still works
    shipped = resolve_init_weights("ladderseg_ros/assets/ldn_demo.safetensors")
    assert shipped.is_file()
    assert shipped.is_absolute()
    values = tiny_config_values(tmp_path, tmp_path / "run", variant="ldn_tiny")
    values["model"]["init_weights"] = "nowhere/none.safetensors"
    with pytest.raises(TrainError, match=r"^model.init_weights: nowhere/none.safetensors"):
        build_network(config_from_dict(values), 19)


def test_other_class_set_carries_head_rows_by_name_and_by_map(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    import numpy as np

    from ladderseg_ros.classes import LabelSet

    source_path = _saved(tmp_path / "cs.safetensors", "ldn_tiny", seed=4)
    source, meta = load_weights(source_path)
    names = ("Traffic_Light", "vehicle", "sky", "cone")
    classes = LabelSet(
        name="team",
        names=names,
        colors=np.zeros((4, 3), np.uint8),
        source_names={"vehicle": ("car", "truck", "bus"), "sky": ("road",)},
    )
    torch.manual_seed(5)
    model = build_model("ldn_tiny", num_classes=4)
    fresh_rows = model.state_dict()["head.conv.weight"].clone()
    with caplog.at_level(logging.INFO, logger="ladderseg_ros.weights"):
        fresh, unused = init_from_weights(model, source_path, classes)
    assert (fresh, unused) == ([], [])
    idx = {n: i for i, n in enumerate(meta.class_names)}
    src = source.state_dict()
    got = model.state_dict()
    for key in ("head.conv.weight", "aux_heads.0.conv.weight"):
        assert torch.equal(got[key][0], src[key][idx["traffic light"]])  # case, "_" = space
        merged = src[key][[idx["car"], idx["truck"], idx["bus"]]].mean(0)
        assert torch.allclose(got[key][1], merged)
        assert torch.equal(got[key][2], src[key][idx["road"]])  # the map wins over the name
    bias = src["head.conv.bias"]
    expected = torch.logsumexp(bias[[idx["car"], idx["truck"], idx["bus"]]], 0)
    assert torch.allclose(got["head.conv.bias"][1], expected)
    assert torch.equal(got["head.conv.weight"][3], fresh_rows[3])  # "cone" is new
    assert (
        "carried over for 3: Traffic_Light <- traffic light, vehicle <- car + truck + bus, "
        "sky <- road; new (fresh rows) 1: cone" in caplog.text
    )
    for key, value in src.items():  # everything but the class rows comes over
        if not re.match(r"^(head|aux_heads\.\d+)\.conv\.", key):
            assert torch.equal(got[key], value), key


def test_a_map_naming_no_source_class_is_refused(tmp_path: Path) -> None:
    import numpy as np

    from ladderseg_ros.classes import LabelSet

    source_path = _saved(tmp_path / "cs.safetensors", "ldn_tiny")
    classes = LabelSet(
        name="team",
        names=("vehicle",),
        colors=np.zeros((1, 3), np.uint8),
        source_names={"vehicle": ("car", "lorry")},
    )
    with pytest.raises(WeightsError, match="source_names of 'vehicle' names 'lorry', not a class"):
        init_from_weights(build_model("ldn_tiny", num_classes=1), source_path, classes)
