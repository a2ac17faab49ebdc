"""Label sets against the official Cityscapes table, palettes, colorize."""

from __future__ import annotations

import numpy as np
import pytest
from cityscapesscripts.helpers import labels as official

from ladderseg_ros.classes import (
    CITYSCAPES,
    CITYSCAPES_LABELS,
    IGNORE_INDEX,
    KITTI,
    TRAIN_TO_LABEL_ID,
    VOC,
    LabelError,
    colorize,
    get_label_set,
    load_palette,
)


def test_cityscapes_table_matches_official_entry_by_entry() -> None:
    assert len(CITYSCAPES_LABELS) == len(official.labels)
    for ours, theirs in zip(CITYSCAPES_LABELS, official.labels, strict=True):
        assert ours.name == theirs.name
        assert ours.id == theirs.id
        assert ours.train_id == theirs.trainId
        assert ours.category == theirs.category
        assert ours.category_id == theirs.categoryId
        assert ours.has_instances == theirs.hasInstances
        assert ours.ignore_in_eval == theirs.ignoreInEval
        assert ours.color == tuple(theirs.color)


def test_cityscapes_train_ids_names_colors_and_lut() -> None:
    assert CITYSCAPES.num_classes == 19
    for train_id, name in enumerate(CITYSCAPES.names):
        label = official.trainId2label[train_id]
        assert label.name == name
        assert tuple(CITYSCAPES.colors[train_id]) == tuple(label.color)
        assert CITYSCAPES.categories[train_id] == label.category
    for label_id in range(256):
        label = official.id2label.get(label_id)
        expected = IGNORE_INDEX
        if label is not None and not label.ignoreInEval:
            expected = label.trainId
        assert CITYSCAPES.raw_to_train[label_id] == expected, label_id
    # trainId -> labelId -> trainId is the identity on the 19 classes.
    ids = np.arange(19, dtype=np.uint8)
    assert np.array_equal(CITYSCAPES.to_train_ids(TRAIN_TO_LABEL_ID[ids]), ids)


def test_kitti_uses_cityscapes_label_ids_and_voc_has_21_classes() -> None:
    raw = np.array([[7, 26, 0, 23]], dtype=np.uint8)
    assert KITTI.to_train_ids(raw).tolist() == [[0, 13, 255, 10]]
    assert VOC.num_classes == 21
    assert VOC.names[0] == "background"
    assert VOC.names[15] == "person"
    assert tuple(VOC.colors[1]) == (128, 0, 0)
    assert tuple(VOC.colors[15]) == (192, 128, 128)
    assert VOC.to_train_ids(np.array([3, 255])).tolist() == [3, 255]


def test_colorize_maps_classes_and_blacks_out_ignore() -> None:
    labels = np.array([[0, 13], [255, 10]], dtype=np.uint8)
    rgb = colorize(labels)
    assert rgb.shape == (2, 2, 3)
    assert rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (128, 64, 128)
    assert tuple(rgb[0, 1]) == (0, 0, 142)
    assert tuple(rgb[1, 0]) == (0, 0, 0)
    assert tuple(colorize(np.array([[1]]), VOC)[0, 0]) == (128, 0, 0)
    with pytest.raises(LabelError, match="2-D"):
        colorize(np.zeros((2, 2, 3), dtype=np.uint8))


def test_palette_yaml_in_config_equals_builtin(repo_root) -> None:
    palette = load_palette(repo_root / "config" / "palette_cityscapes.yaml")
    assert palette.names == CITYSCAPES.names
    assert np.array_equal(palette.colors, CITYSCAPES.colors)
    assert np.array_equal(palette.raw_to_train, CITYSCAPES.raw_to_train)


def test_bad_palette_files_name_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes:\n  - {name: road, color: [1, 2]}\n")
    with pytest.raises(LabelError, match="bad.yaml"):
        load_palette(bad)
    with pytest.raises(LabelError, match="missing.yaml"):
        load_palette(tmp_path / "missing.yaml")
    with pytest.raises(LabelError, match="unknown label set"):
        get_label_set("mapillary")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: road, color: [300, -1, 0]}", r"class 0 \('road'\) color .*300 and -1 are outside"),
        ("{name: road, color: [1, 2]}", "has 2 values, expected 3"),
        ("{name: road}", r"class 0 \('road'\) has no 'color'"),
        ("{color: [0, 0, 0]}", "class 0 has no 'name'"),
        ("{name: road, color: [a, 0, 0]}", "'a' is not a whole number"),
    ],
)
def test_bad_palette_entries_say_what_is_wrong(tmp_path, entry: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"classes:\n  - {entry}\n")
    with pytest.raises(LabelError, match=message) as info:
        load_palette(bad)
    assert str(info.value).startswith(f"palette file {bad}: class 0")
