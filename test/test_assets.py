"""The shipped weights: readable, small, documented, and a scale-selection model with its twin."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ladderseg_ros.weights import read_metadata

ASSETS = Path(__file__).resolve().parent.parent / "ladderseg_ros" / "assets"


def test_every_shipped_file_is_small_readable_and_in_the_model_card() -> None:
    card = (ASSETS / "MODEL_CARD.md").read_text()
    files = sorted(ASSETS.glob("*.safetensors"))
    assert [f.name for f in files] == ["ldn_demo.safetensors", "ldn_demo_mono.safetensors"]
    for path in files:
        assert path.stat().st_size <= 20 * 2**20, path
        read_metadata(path)  # validated metadata, no tensors loaded
        assert f"`ladderseg_ros/assets/{path.name}`" in card, path.name


def test_the_image_only_file_is_the_twin_of_the_demo_weights() -> None:
    """Same network but for scale selection, same trained scale, same recipe and seed."""
    ss = read_metadata(ASSETS / "ldn_demo.safetensors")
    mono = read_metadata(ASSETS / "ldn_demo_mono.safetensors")
    assert ss.model.uses_disparity
    assert not mono.model.uses_disparity
    assert dataclasses.replace(ss.model, name=mono.model.name, scale_selection=None) == mono.model
    assert (mono.input_size, mono.focal_length) == (ss.input_size, ss.focal_length)
    recipes = [json.loads(m.provenance["config"]) for m in (ss, mono)]
    for recipe in recipes:
        del recipe["model"], recipe["run"]["name"], recipe["run"]["output_dir"]
    assert recipes[0] == recipes[1]


def test_predict_names_the_twin_for_plain_images() -> None:
    from ladderseg_ros.tools.predict import plain_weights_hint

    assert "ldn_demo_mono.safetensors" in plain_weights_hint()
    assert "ldn_demo.safetensors" not in plain_weights_hint()
