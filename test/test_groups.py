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


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("{name: a, color: [0, 0, 0], classes: road}", "group 'a' classes 'road' is not a list"),
        ("{name: a, color: [300, -1, 0], classes: [road]}", "300 and -1 are outside 0..255"),
        ("{name: a, color: [0, 0, 256], classes: [road]}", r"\[0, 0, 256\]: 256 is outside"),
        ("{name: a, color: [1, 2], classes: [road]}", "has 2 values, expected 3"),
        ("{name: a, color: red, classes: [road]}", "color 'red' is not a list"),
        ("{name: a, color: [1.5, 0, x], classes: [road]}", "1.5 and 'x' are not whole numbers"),
        ("{name: a, color: [yes, 0, 0], classes: [road]}", "True is not a whole number"),
        ("{name: a, classes: [road]}", "group 'a' has no 'color'"),
        ("{name: a, color: [0, 0, 0]}", "group 'a' has no 'classes'"),
        ("{color: [0, 0, 0], classes: [road]}", "group 0 has no 'name'"),
        ("{name: [a], color: [0, 0, 0], classes: [road]}", r"group 0 name \['a'\] is not a name"),
        ("{name: a, color: [0, 0, 0], classes: [road, 3]}", r"\['road', 3\] is not a list of"),
        ("road", "group 0 is 'road', expected a mapping"),
    ],
)
def test_bad_groups_say_what_is_wrong(tmp_path: Path, group: str, message: str) -> None:
    """One line naming the file, the group and the fault (issue 23: ``classes: road`` was
    "unknown class 'r'", ``[300, -1, 0]`` "is not 3 values")."""
    path = tmp_path / "g.yaml"
    path.write_text(f"groups:\n  - {group}\n")
    with pytest.raises(LabelError, match=message) as info:
        load_groups(path, CITYSCAPES)
    assert str(info.value).startswith(f"groups file {path}: group ")
    assert "\n" not in str(info.value)


def test_whole_float_colours_are_taken() -> None:
    from ladderseg_ros.classes import parse_rgb

    assert parse_rgb([255.0, 0, 7], "x") == (255, 0, 7)
