"""A scale-selection model trains on a folder data set with right images and a camera."""

from __future__ import annotations

from pathlib import Path

from own_data import NAMES, write_cvat_export

from ladderseg_ros.training.config import config_from_dict
from ladderseg_ros.training.train import Trainer
from ladderseg_ros.weights import read_metadata


def test_scale_selection_model_trains_on_a_stereo_folder(tmp_path: Path) -> None:
    root = write_cvat_export(tmp_path / "export", 2, 1, 96, 64, stereo=True)
    values = {
        "data": {"dataset": "folder", "root": str(root)},
        "model": {"variant": "ldn_tiny_ss"},
        "augment": {"crop_width": 96, "crop_height": 64, "scale_min": 1.0, "scale_max": 1.0},
        "run": {
            "output_dir": str(tmp_path / "run"),
            "batch_size": 2,
            "epochs": 1,
            "device": "cpu",
            "amp": False,
            "threads": 1,
        },
    }
    trainer = Trainer(config_from_dict(values))
    assert trainer.uses_disparity
    sample = trainer.train_set.base[0]
    assert sample.disparity is not None
    assert (sample.disparity > 0).any()
    trainer.fit()
    meta = read_metadata(trainer.finish())
    assert meta.model.uses_disparity
    assert meta.class_names == NAMES
