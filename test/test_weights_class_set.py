"""The class set travels with the weights: names, colours, categories, groups in the metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.classes import CITYSCAPES, GroupSpec, LabelSet, bit_palette
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsError, WeightsMetadata, read_metadata

TEAM = LabelSet(
    name="team",
    names=("drivable", "curb", "cone"),
    colors=np.array([[128, 64, 128], [200, 200, 0], [250, 120, 0]], np.uint8),
    categories=("flat", "flat", "object"),
    group_specs=(GroupSpec("obstacles", (255, 0, 0), ("curb", "cone")),),
)


def _config():
    import torch

    with torch.device("meta"):
        return build_model("ldn_tiny", num_classes=3).config


def test_class_set_round_trips_through_the_metadata_json() -> None:
    meta = WeightsMetadata.for_class_set(_config(), TEAM)
    back = WeightsMetadata.from_json(meta.to_json()).class_set()
    assert (back.name, back.names, back.categories) == (TEAM.name, TEAM.names, TEAM.categories)
    np.testing.assert_array_equal(back.colors, TEAM.colors)
    assert back.group_specs == TEAM.group_specs
    assert json.loads(meta.to_json())["ignore_index"] == 255


def test_older_files_keep_their_colours(repo_root: Path) -> None:
    shipped = read_metadata(repo_root / "ladderseg_ros" / "assets" / "ldn_demo_mono.safetensors")
    assert shipped.class_set() is CITYSCAPES
    plain = WeightsMetadata(model=_config(), label_set="mine", class_names=("a", "b", "c"))
    np.testing.assert_array_equal(plain.class_set().colors, bit_palette(3))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("class_colors", [[1, 2, 3]], "one colour per class"),
        ("class_colors", [[1, 2, 3], [4, 5, 6], [7, 8, 900]], "class_colors"),
        ("class_colors", [[1, 2, 3], [4, 5, 6], [7, 8, "x"]], "class_colors must be an integer"),
        ("categories", ["a"], "one category per class"),
        (
            "groups",
            [{"name": "g", "color": [1, 1, 1], "classes": ["nope"]}],
            "unknown class 'nope'",
        ),
        ("groups", [{"name": "g"}], "group 'g' has no 'color'"),
        ("ignore_index", 0, "ignore_index must be 255"),
    ],
)
def test_bad_class_set_fields_are_refused(field: str, value: object, message: str) -> None:
    doc = json.loads(WeightsMetadata.for_class_set(_config(), TEAM).to_json())
    doc[field] = value
    with pytest.raises(WeightsError, match=message):
        WeightsMetadata.from_json(json.dumps(doc))
