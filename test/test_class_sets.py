"""Class sets as files: YAML, CVAT labelmap.txt, Vistas config.json; decoding stored labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.classes import (
    CITYSCAPES,
    IGNORE_INDEX,
    LabelError,
    class_set_yaml,
    load_class_set,
    write_class_set,
)
from ladderseg_ros.cli.main import main
from ladderseg_ros.fileio import OutputExistsError
from ladderseg_ros.groups import groups_of, label_metadata

TEAM = """
name: team
classes:
  - {name: drivable, color: [128, 64, 128], category: flat, ids: [7, 9], colors: [[1, 2, 3]]}
  - {name: curb, color: [200, 200, 0], ids: [8]}
  - {name: vehicle, color: [0, 0, 142], ids: [26, 27, 28]}
ignore: [0, 255, [0, 0, 0]]
source_names:
  drivable: road
  vehicle: [car, truck, bus]
groups:
  - {name: free, color: [0, 255, 0], classes: [drivable]}
  - {name: obstacles, color: [255, 0, 0], classes: [curb, vehicle]}
"""


@pytest.fixture
def team(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


def test_yaml_class_set_maps_stored_ids_and_colours(team: Path) -> None:
    ls = load_class_set(team)
    assert ls.names == ("drivable", "curb", "vehicle")
    assert ls.categories == ("flat", "", "")
    ids = np.array([[7, 9, 8], [26, 28, 0], [255, 27, 7]], np.uint8)
    np.testing.assert_array_equal(
        ls.decode(ids), [[0, 0, 1], [2, 2, IGNORE_INDEX], [IGNORE_INDEX, 2, 0]]
    )
    rgb = np.array([[[128, 64, 128], [1, 2, 3], [0, 0, 0], [0, 0, 142]]], np.uint8)
    np.testing.assert_array_equal(ls.decode(rgb), [[0, 0, IGNORE_INDEX, 2]])
    assert ls.source_names == {"drivable": ("road",), "vehicle": ("car", "truck", "bus")}
    groups = groups_of(ls)
    assert groups is not None
    assert groups.names == ("free", "obstacles")
    assert groups.members == ((0,), (1, 2))
    assert label_metadata(ls, groups)["groups"]["classes"][1]["class_ids"] == [1, 2]


def test_values_not_in_the_set_are_named_with_their_pixel_count(team: Path) -> None:
    ls = load_class_set(team)
    ids = np.full((4, 5), 7, np.uint8)
    ids[0, :3] = 33
    ids[1, 0] = 40
    with pytest.raises(
        LabelError,
        match=r"f\.png: label value 33 is not in class set 'team' "
        r"\(3 pixels; 1 other unknown value\(s\)\)",
    ):
        ls.decode(ids, "f.png")
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, :2] = (9, 9, 9)
    with pytest.raises(LabelError, match=r"m\.png: colour \(9, 9, 9\) is not in .* \(2 pixels\)"):
        ls.decode(rgb, "m.png")
    with pytest.raises(LabelError, match=r"label value \(outside 0\.\.255\) 300"):
        ls.decode(np.full((2, 2), 300, np.uint16), "w.png")


def test_yaml_written_reads_back_to_the_same_set(team: Path, tmp_path: Path) -> None:
    for spec in (team, "cityscapes", "voc"):
        ls = load_class_set(spec)
        path = write_class_set(tmp_path / f"{ls.name}_copy.yaml", ls)
        back = load_class_set(path)
        assert back.names == ls.names
        np.testing.assert_array_equal(back.colors, ls.colors)
        assert back.categories == ls.categories
        assert back.source_names == ls.source_names
        assert back.group_specs == ls.group_specs
        assert back.color_table() == ls.color_table()
        declared = np.arange(256) if ls.known_raw is None else np.flatnonzero(ls.known_raw)
        if ls is CITYSCAPES:
            declared = np.arange(34)
        if ls.raw_to_train is not None:
            ids = declared.astype(np.uint8).reshape(1, -1)
            np.testing.assert_array_equal(back.decode(ids), ls.to_train_ids(ids))
        with pytest.raises(OutputExistsError, match="not overwriting"):
            write_class_set(path, ls)
    assert "ids: [7]" in class_set_yaml(CITYSCAPES)


def test_cvat_labelmap(tmp_path: Path) -> None:
    path = tmp_path / "labelmap.txt"
    path.write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\nlane marking:255,255,255::\n"
        "cone:250,120,0:tip:\n"
    )
    ls = load_class_set(path)
    assert ls.names == ("lane marking", "cone")
    rgb = np.array([[[0, 0, 0], [250, 120, 0], [255, 255, 255]]], np.uint8)
    np.testing.assert_array_equal(ls.decode(rgb), [[IGNORE_INDEX, 1, 0]])
    # single-channel masks hold the row number
    np.testing.assert_array_equal(ls.decode(np.array([[0, 2, 1]])), [[IGNORE_INDEX, 1, 0]])
    path.write_text("background:0,0,0::\ncone:250,120::\n")
    with pytest.raises(LabelError, match=r"labelmap\.txt:2: expected name:r,g,b:parts:actions"):
        load_class_set(path)


def test_vistas_config(tmp_path: Path) -> None:
    labels = [
        {"name": "construction--flat--road", "readable": "Road", "color": [128, 64, 128],
         "evaluate": True},
        {"name": "void--ego-vehicle", "readable": "Ego Vehicle", "color": [120, 10, 10],
         "evaluate": False},
        {"name": "object--vehicle--car", "readable": "Car", "color": [0, 0, 142],
         "evaluate": True},
    ]  # fmt: skip
    path = tmp_path / "config_v2.0.json"
    path.write_text(json.dumps({"labels": labels, "version": "2.0"}))
    ls = load_class_set(path)
    assert (ls.name, ls.names, ls.categories) == (
        "vistas_v2.0",
        ("Road", "Car"),
        ("construction", "object"),
    )
    np.testing.assert_array_equal(ls.decode(np.array([[0, 1, 2]])), [[0, IGNORE_INDEX, 1]])
    with pytest.raises(LabelError, match="label value 3 is not in class set 'vistas_v2.0'"):
        ls.decode(np.array([[3]]))
    path.write_text(json.dumps({"labels": [{"name": "x"}]}))
    with pytest.raises(LabelError, match=r"config_v2\.0\.json: label 0 needs 'name' and 'color'"):
        load_class_set(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classes: [{name: a, color: [1, 2]}]", "color \\[1, 2\\] has 2 values, expected 3"),
        ("classes: [{name: a, color: [1, 2, 3], ids: [300]}]", "stored id 300"),
        ("classes: [{name: a, color: [1,2,3], ids: [4]}, {name: b, color: [3,2,1], ids: [4]}]",
         "stored id 4 is given twice"),
        ("classes: [{name: a, color: [1, 2, 3]}, {name: a, color: [3, 2, 1]}]", "names repeat"),
        ("classes: [{name: a, color: [1, 2, 3]}]\nsource_names: {b: c}", "unknown class.*'b'"),
        ("classes: [{name: a, color: [1, 2, 3]}]\ngroups: [{name: g, color: [1,1,1], "
         "classes: [z]}]", "unknown class 'z' in group 'g'"),
        ("classes: [{name: a, color: [1, 2, 3]}]\nignore: [0]", "stored id 0 is ignored"),
        ("classes: []", "no classes"),
    ],
)  # fmt: skip
def test_malformed_class_set_is_one_line_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LabelError, match=f"bad.yaml.*{message}") as info:
        load_class_set(path)
    assert "\n" not in str(info.value)


def test_unknown_name_or_kind_of_file() -> None:
    with pytest.raises(LabelError, match="unknown class set 'mapillary'; built in: cityscapes"):
        load_class_set("mapillary")
    with pytest.raises(LabelError, match="not a class set file"):
        load_class_set("weights.bin")


def test_classes_command_prints_and_writes(team: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.yaml"
    assert main(["classes", str(team), "--write", str(out)]) == 0
    text = capsys.readouterr().out
    assert "class set 'team': 3 classes" in text
    assert "2   vehicle   #00008e                       26-28       car + truck + bus" in text
    assert "group obstacles #ff0000: curb, vehicle" in text
    assert load_class_set(out).names == ("drivable", "curb", "vehicle")
    assert main(["classes", "kitti", "--write", str(out)]) == 2
    assert "exists already, not overwriting" in capsys.readouterr().err
    assert main(["classes", "cityscapes"]) == 0
    assert "18  bicycle" in capsys.readouterr().out
