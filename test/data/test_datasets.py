"""Cityscapes, KITTI and VOC loaders on tiny fixtures written in the real layouts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ladderseg_ros.classes import VOC
from ladderseg_ros.data.cityscapes import CityscapesDataset
from ladderseg_ros.data.kitti import KittiDataset, KittiRawDataset
from ladderseg_ros.data.sample import DatasetError, read_label_png
from ladderseg_ros.data.voc import VocDataset
from ladderseg_ros.errors import LadderSegError

H, W = 8, 12


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def _rgb() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    img[..., 2] = 10
    return img


def _cityscapes(root: Path, with_disp: bool = True) -> None:
    for frame in (19, 20):
        stem = f"aachen_000000_{frame:06d}"
        _png(root / f"leftImg8bit/train/aachen/{stem}_leftImg8bit.png", _rgb()[..., ::-1])
        label_ids = np.full((H, W), 7, np.uint8)  # road
        label_ids[0] = 26  # car
        label_ids[1] = 3  # out of roi -> ignore
        _png(root / f"gtFine/train/aachen/{stem}_gtFine_labelIds.png", label_ids)
        if with_disp:
            raw = np.full((H, W), int(12.5 * 256 + 1), np.uint16)
            raw[:, 0] = 0
            _png(root / f"disparity/train/aachen/{stem}_disparity.png", raw)
            cam = {
                "extrinsic": {
                    "baseline": 0.209,
                    "pitch": 0,
                    "roll": 0,
                    "yaw": 0,
                    "x": 1.7,
                    "y": 0.1,
                    "z": 1.2,
                },
                "intrinsic": {"fx": 2262.5, "fy": 2265.3, "u0": 1096.9, "v0": 513.1},
            }
            p = root / f"camera/train/aachen/{stem}_camera.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(cam))


def test_cityscapes_maps_label_ids_and_reads_disparity(tmp_path: Path) -> None:
    _cityscapes(tmp_path)
    ds = CityscapesDataset(tmp_path, "train", with_disparity=True)
    assert len(ds) == 2
    s = ds[0]
    assert s.name == "aachen_000000_000019"
    np.testing.assert_array_equal(s.image[0, 0], [200, 0, 10])
    assert s.labels[0, 0] == 13
    assert s.labels[1, 0] == 255
    assert s.labels[5, 5] == 0
    assert s.disparity[3, 0] == 0.0
    assert s.disparity[3, 4] == pytest.approx(12.5)
    assert s.baseline == pytest.approx(0.209)


def test_cityscapes_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=str(tmp_path / "nowhere")):
        CityscapesDataset(tmp_path / "nowhere")
    _cityscapes(tmp_path, with_disp=False)
    with pytest.raises(DatasetError, match="leftImg8bit/val"):
        CityscapesDataset(tmp_path, "val")
    with pytest.raises(DatasetError, match="disparity"):
        CityscapesDataset(tmp_path, "train", with_disparity=True)
    bad = tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"
    _png(bad, np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DatasetError, match="single-channel"):
        CityscapesDataset(tmp_path, "train")[0]


def _kitti(root: Path, n: int = 5) -> None:
    t = root / "training"
    for i in range(n):
        name = f"{i:06d}_10.png"
        _png(t / "image_2" / name, _rgb())
        _png(t / "image_3" / name, _rgb())
        sem = np.full((H, W), 21, np.uint8)  # vegetation
        _png(t / "semantic" / name, sem)
        disp = np.full((H, W), 40 * 256, np.uint16)
        disp[0] = 0
        _png(t / "disp_occ_0" / name, disp)
    calib = t / "calib_cam_to_cam" / "000001.txt"
    calib.parent.mkdir(parents=True)
    calib.write_text(
        "P_rect_02: 721.5 0 609.6 44.85 0 721.5 172.9 0.2163 0 0 1 0.002746\n"
        "P_rect_03: 721.5 0 609.6 -339.5 0 721.5 172.9 2.199 0 0 1 0.002730\n"
    )


def test_kitti_split_labels_disparity_and_baseline(tmp_path: Path) -> None:
    _kitti(tmp_path)
    train = KittiDataset(tmp_path, "train", with_disparity=True)
    val = KittiDataset(tmp_path, "val", with_disparity=True)
    assert len(train) == 4
    assert len(val) == 1
    assert {f.name for f in train.frames}.isdisjoint({f.name for f in val.frames})
    s = train[0]  # frame 000001 has a calibration file
    assert s.name == "000001_10"
    assert (s.labels == 8).all()
    assert s.disparity[0, 0] == 0
    assert s.disparity[4, 4] == pytest.approx(40.0)
    assert s.baseline == pytest.approx((44.85 + 339.5) / 721.5)
    assert train[1].baseline == pytest.approx(0.54)  # no calib: the nominal rig


def test_kitti_missing_parts_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="image_2"):
        KittiDataset(tmp_path)
    _kitti(tmp_path, 2)
    (tmp_path / "training/disp_occ_0/000000_10.png").unlink()
    with pytest.raises(LadderSegError, match="000000_10.png"):
        KittiDataset(tmp_path, "all", with_disparity=True)[0]


def test_kitti_raw_drive(tmp_path: Path) -> None:
    drive = tmp_path / "2011_09_26" / "2011_09_26_drive_0001_sync"
    for cam in ("image_02", "image_03"):
        for i in range(2):
            _png(drive / cam / "data" / f"{i:010d}.png", _rgb())
        (drive / cam / "timestamps.txt").write_text(
            "2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.068398101\n"
        )
    (tmp_path / "2011_09_26" / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        "P_rect_02: 721.5 0 609.6 44.85 0 721.5 172.9 0.2163 0 0 1 0.002746\n"
        "P_rect_03: 721.5 0 609.6 -339.5 0 721.5 172.9 2.199 0 0 1 0.002730\n"
    )
    ds = KittiRawDataset(drive)
    assert len(ds) == 2
    s = ds[1]
    assert s.right.shape == s.image.shape
    assert s.labels is None
    assert s.baseline == pytest.approx(0.5328, abs=1e-3)
    assert s.timestamp - ds[0].timestamp == pytest.approx(0.104, abs=1e-3)


def _voc(root: Path, aug: bool) -> Path:
    voc = root / "VOCdevkit" / "VOC2012"
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    (voc / "SegmentationClass").mkdir()
    ids = ["2007_000032", "2007_000039", "2008_000001"]
    for i, image_id in enumerate(ids):
        cv2.imwrite(str(voc / "JPEGImages" / f"{image_id}.jpg"), _rgb())
        labels = np.full((H, W), i, np.uint8)
        labels[0] = 255
        img = Image.fromarray(labels, mode="P")
        img.putpalette(VOC.colors.reshape(-1).tolist() + [224, 224, 192] * (256 - 21))
        img.save(voc / "SegmentationClass" / f"{image_id}.png")
    (voc / "ImageSets/Segmentation/train.txt").write_text("2007_000032\n2007_000039\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text("2008_000001\n")
    if aug:
        (voc / "SegmentationClassAug").mkdir()
        extra = ["2007_000032", "2007_000039", "2009_000005"]
        cv2.imwrite(str(voc / "JPEGImages" / "2009_000005.jpg"), _rgb())
        for image_id in extra:
            _png(voc / "SegmentationClassAug" / f"{image_id}.png", np.full((H, W), 15, np.uint8))
        (voc / "ImageSets/Segmentation/train_aug.txt").write_text("\n".join(extra) + "\n")
    return voc


def test_voc_reads_palette_indices_not_colours(tmp_path: Path) -> None:
    _voc(tmp_path, aug=False)
    train = VocDataset(tmp_path / "VOCdevkit", "train")
    assert len(train) == 2
    s = train[1]
    assert s.labels[0, 0] == 255
    assert (s.labels[1:] == 1).all()
    val = VocDataset(tmp_path / "VOCdevkit" / "VOC2012", "val")
    assert val[0].name == "2008_000001"
    assert (val[0].labels[1:] == 2).all()


def test_voc_uses_the_augmented_train_list(tmp_path: Path) -> None:
    voc = _voc(tmp_path, aug=True)
    train = VocDataset(voc, "train")
    assert len(train) == 3
    assert (train[2].labels == 15).all()
    assert len(VocDataset(voc, "train", augmented=False)) == 2


def test_voc_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="JPEGImages"):
        VocDataset(tmp_path)
    voc = _voc(tmp_path, aug=False)
    with pytest.raises(DatasetError, match="trainval.txt"):
        VocDataset(voc, "trainval")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(voc / "SegmentationClass/2008_000001.png")
    with pytest.raises(DatasetError, match="2008_000001.png"):
        VocDataset(voc, "val")[0]


def test_label_png_reader_gives_ids_and_refuses_colour(tmp_path: Path) -> None:
    """The one label reader (datasets and `ladderseg eval`): grey values, palette indices
    (not colours), 16-bit only on request, a colour image is an error naming the file."""
    ids = np.arange(H * W, dtype=np.uint8).reshape(H, W) % 21
    grey, palette = tmp_path / "grey.png", tmp_path / "palette.png"
    _png(grey, ids)
    img = Image.fromarray(ids, mode="P")
    img.putpalette(VOC.colors.reshape(-1).tolist() + [0, 0, 0] * (256 - 21))
    img.save(palette)
    for path in (grey, palette):
        out = read_label_png(path)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, ids)
    wide = tmp_path / "wide.png"
    _png(wide, np.full((H, W), 300, np.uint16))
    with pytest.raises(DatasetError, match="wide.png"):
        read_label_png(wide)
    assert read_label_png(wide, wide=True).max() == 300
    colour = tmp_path / "x_color.png"
    _png(colour, _rgb())
    with pytest.raises(DatasetError, match=r"x_color\.png.*single-channel.*colour"):
        read_label_png(colour)
    with pytest.raises(DatasetError, match="nope.png"):
        read_label_png(tmp_path / "nope.png")
