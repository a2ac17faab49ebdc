"""Class groups files and the label metadata document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.classes import CITYSCAPES, IGNORE_INDEX, VOC, LabelError
from ladderseg_ros.groups import label_metadata, load_groups

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "groups_driving.yaml"


def test_shipped_driving_groups_cover_every_cityscapes_class_once() -> None:
    groups = load_groups(SHIPPED, CITYSCAPES)
    assert groups.names == (
        "drivable",
        "sidewalk",
        "obstacle-static",
        "obstacle-dynamic",
        "vulnerable road users",
        "sky/other",
    )
    assert sorted(i for m in groups.members for i in m) == list(range(19))
    labels = np.array([[0, 13, 11, IGNORE_INDEX]], np.uint8)
    assert groups(labels).tolist() == [[0, 3, 4, IGNORE_INDEX]]


def test_unknown_class_names_the_file_and_the_class(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("groups:\n  - {name: a, color: [0, 0, 0], classes: [road, lorry]}\n")
    with pytest.raises(LabelError, match=rf"{path}.*'lorry'"):
        load_groups(path, CITYSCAPES)
    with pytest.raises(LabelError, match="unknown class 'road'"):
        load_groups(SHIPPED, VOC)  # a file for another label set


def test_class_in_two_groups_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "groups:\n  - {name: a, color: [0, 0, 0], classes: [road]}\n"
        "  - {name: b, color: [0, 0, 0], classes: [road]}\n"
    )
    with pytest.raises(LabelError, match="'road' is in group 'a' and in 'b'"):
        load_groups(path, CITYSCAPES)
    path.write_text("groups: []\n")
    with pytest.raises(LabelError, match="non-empty"):
        load_groups(path, CITYSCAPES)
    with pytest.raises(LabelError, match="groups file .*none.yaml not found"):
        load_groups(tmp_path / "none.yaml", CITYSCAPES)


def test_metadata_follows_label_info_names() -> None:
    doc = label_metadata(CITYSCAPES, load_groups(SHIPPED, CITYSCAPES))
    assert doc["class_map"][0] == {"class_id": 0, "class_name": "road"}
    assert doc["classes"][0] == {"id": 0, "name": "road", "color": [128, 64, 128]}
    assert doc["threshold"] == 0.0
    assert doc["ignore_index"] == IGNORE_INDEX
    assert doc["groups"]["class_map"][3] == {"class_id": 3, "class_name": "obstacle-dynamic"}
    assert "groups" not in label_metadata(CITYSCAPES)
