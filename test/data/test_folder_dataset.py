"""The folder data set: CVAT, Vistas and plain layouts; stereo; bad data in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from own_data import NAMES, six_class_lut, write_cvat_export, write_vistas_folder
from PIL import Image

from ladderseg_ros.classes import IGNORE_INDEX
from ladderseg_ros.data.folder import FolderDataset, detect_format
from ladderseg_ros.data.sample import DatasetError
from ladderseg_ros.data.synthetic import KITTI_RIG, SPLIT_SEEDS, render_frame


@pytest.fixture(scope="module")
def cvat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cvat_export(tmp_path_factory.mktemp("cvat") / "export", 2, 1, 96, 64, True)


def _expected(split: str, index: int, width: int = 96, height: int = 64) -> np.ndarray:
    frame = render_frame(SPLIT_SEEDS[split][index], KITTI_RIG.resized(width, height))
    labels = six_class_lut()[frame.train_ids]
    labels[labels == 6] = IGNORE_INDEX
    return labels


def test_cvat_export_reads_its_colour_masks_in_its_labelmap(cvat: Path) -> None:
    assert detect_format(cvat) == "cvat"
    ds = FolderDataset(cvat, "train")
    assert (ds.format, len(ds), ds.label_set.names) == ("cvat", 2, NAMES)
    sample = ds[1]
    assert sample.image.shape == (64, 96, 3)
    np.testing.assert_array_equal(sample.labels, _expected("train", 1))
    assert sample.disparity is None


def test_cvat_palette_masks_are_read_by_colour(cvat: Path, tmp_path: Path) -> None:
    root = shutil.copytree(cvat, tmp_path / "palette")
    mask = root / "SegmentationClass" / (FolderDataset(root, "val").frames[0].name + ".png")
    rgb = np.asarray(Image.open(mask).convert("RGB"))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(mask)
    np.testing.assert_array_equal(FolderDataset(root, "val")[0].labels, _expected("val", 0))


def test_stereo_frames_get_sgbm_disparity_and_the_baseline(cvat: Path) -> None:
    sample = FolderDataset(cvat, "train", with_disparity=True)[0]
    assert sample.baseline == pytest.approx(KITTI_RIG.baseline)
    assert sample.disparity.shape == (64, 96)
    assert (sample.disparity > 0).mean() > 0.3


def test_vistas_folder_both_versions(tmp_path: Path) -> None:
    root = write_vistas_folder(tmp_path / "v", 2, 1, 96, 64)
    ds = FolderDataset(root, "val")  # "val" finds Vistas' "validation"
    assert (ds.format, ds.label_set.names) == ("vistas", NAMES)
    np.testing.assert_array_equal(ds[0].labels, _expected("val", 0))
    # v2.0 keeps both versions side by side: the class set file chooses
    for split in ("training", "validation"):
        base = root / split
        (base / "v1.2").mkdir()
        shutil.move(base / "labels", base / "v1.2" / "labels")
        shutil.copytree(base / "v1.2", base / "v2.0")
    shutil.copy(root / "config.json", root / "config_v1.2.json")
    with pytest.raises(DatasetError, match="labels of v2.0, v1.2: set data.classes"):
        FolderDataset(root, "val", classes=str(root / "config.json"))
    ds = FolderDataset(root, "val", classes=str(root / "config_v1.2.json"))
    assert ds.frames[0].label.parts[-3] == "v1.2"


def test_plain_folder_with_split_lists_and_stored_ids(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "splits").mkdir()
    ids = np.zeros((32, 48), np.uint8)
    ids[16:] = 7
    cv2.imwrite(str(root / "images" / "a.png"), np.zeros((32, 48, 3), np.uint8))
    cv2.imwrite(str(root / "labels" / "a.png"), ids)
    (root / "splits" / "train.txt").write_text("a\n")
    (root / "splits" / "val.txt").write_text("\n")
    ds = FolderDataset(root, "train", classes="cityscapes")
    assert ds.format == "plain"
    assert set(np.unique(ds[0].labels)) == {0, IGNORE_INDEX}  # labelIds 7 -> road, 0 -> ignore
    with pytest.raises(DatasetError, match=r"splits/val\.txt: split 'val' is empty"):
        FolderDataset(root, "val", classes="cityscapes")
    with pytest.raises(DatasetError, match="set data.classes"):
        FolderDataset(root, "train")


def test_bad_data_is_one_line_naming_the_file(cvat: Path, tmp_path: Path) -> None:
    root = shutil.copytree(cvat, tmp_path / "bad")
    ds = FolderDataset(root, "train")
    mask_path = ds.frames[0].label
    mask = cv2.imread(str(mask_path))
    mask[:2, :5] = (1, 2, 3)  # BGR of (3, 2, 1)
    cv2.imwrite(str(mask_path), mask)
    with pytest.raises(DatasetError, match=rf"{mask_path.name}: colour \(3, 2, 1\) is not in "
                       r"class set 'bad' \(10 pixels\)"):  # fmt: skip
        ds[0]
    cv2.imwrite(str(mask_path), mask[:, :90])
    with pytest.raises(DatasetError, match=rf"{mask_path.name}: size 90x64 differs from its image"):
        ds[0]
    mask_path.unlink()
    with pytest.raises(
        DatasetError, match=rf"{ds.frames[0].image.name}: no label .*{mask_path.name}"
    ):
        FolderDataset(root, "train")
    val_stem = (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
    right = root / "JPEGImages_right" / f"{val_stem}.jpg"
    right.unlink()
    with pytest.raises(DatasetError, match=rf"{right.stem}\.jpg: no right image"):
        FolderDataset(root, "val", with_disparity=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("nothing_here\n")
    with pytest.raises(DatasetError, match="no image .* for listed frame 'nothing_here'"):
        FolderDataset(root, "val")
    with pytest.raises(DatasetError, match=r"test\.txt: .*not found|test\.txt"):
        FolderDataset(root, "test")


def test_camera_out_of_range_is_refused(cvat: Path, tmp_path: Path) -> None:
    root = shutil.copytree(cvat, tmp_path / "cam")
    doc = json.loads((root / "camera.json").read_text())
    doc["intrinsic"]["fx"] = 1e9
    (root / "camera.json").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"camera\.json: fx 1000000000\.0 px .* out of range"):
        FolderDataset(root, "train", with_disparity=True)[0]
