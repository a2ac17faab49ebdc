"""Encoded images: the header's size is bounded before decoding; the stored orientation kept."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from encoded_images import ROTATE_90_CW, exif_tagged, huge_png
from PIL import Image

from ladderseg_ros.data import images
from ladderseg_ros.data.images import ImageDecodeError, decode_image, encoded_size, read_image
from ladderseg_ros.data.kitti import read_kitti_disparity
from ladderseg_ros.data.layouts import LayoutError, read_png
from ladderseg_ros.data.sample import DatasetError, read_label_png, read_rgb


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any attempt to decode pixels, by OpenCV or by Pillow."""
    import cv2
    from PIL import ImageFile

    calls: list[str] = []

    def refuse(name: str) -> Callable[..., None]:
        def stand_in(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called: pixels decoded")

        return stand_in

    monkeypatch.setattr(cv2, "imdecode", refuse("cv2.imdecode"))
    monkeypatch.setattr(cv2, "imread", refuse("cv2.imread"))
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse("PIL load"))
    return calls


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_ignored_the_stored_pixels_come_back(fmt: str) -> None:
    data = exif_tagged(fmt)
    with Image.open(io.BytesIO(data)) as tagged:  # the tag is really there
        assert tagged.getexif()[0x0112] == ROTATE_90_CW
    rgb = decode_image(data, "cam")
    assert rgb.shape == (40, 64, 3)  # not 64x40: rotated, as the report found
    np.testing.assert_allclose(rgb[:, :30].mean(), 255, atol=3)
    np.testing.assert_allclose(rgb[:, 34:].mean(), 0, atol=3)


def test_image_files_are_read_in_their_stored_orientation(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    path.write_bytes(exif_tagged("JPEG"))
    for rgb in (read_png(path), read_rgb(path), read_image(path)):
        assert rgb.shape == (40, 64, 3)
        np.testing.assert_allclose(rgb[:, :30].mean(), 255, atol=3)
    grey = np.arange(40 * 64, dtype=np.uint16).reshape(40, 64)
    path = tmp_path / "disp.png"
    path.write_bytes(exif_tagged("PNG", grey.astype(np.uint8)))
    np.testing.assert_array_equal(read_png(path, color=False), grey.astype(np.uint8))


def test_header_size_is_read_without_decoding(no_decoding: list[str]) -> None:
    assert encoded_size(huge_png(12000, 9000), "x", 1 << 28) == (12000, 9000)
    assert encoded_size(exif_tagged("JPEG"), "x") == (64, 40)  # stored, not displayed, size
    assert not no_decoding


def test_huge_header_is_refused_before_any_pixel_is_decoded(no_decoding: list[str]) -> None:
    # the report: a 263 KB 16000x16000 PNG took the node from 0.46 GB to 1.9 GB
    data = huge_png(16000, 16000)
    assert len(data) < 300_000  # the report's file: 263 KB
    tracemalloc.start()
    try:
        with pytest.raises(
            ImageDecodeError, match="256000000 pixels exceeds max_image_pix"
        ) as info:
            decode_image(data, "left/image_rect/compressed", 16_777_216)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.kind == "huge_size"
    assert str(info.value).startswith("left/image_rect/compressed: ")
    assert not no_decoding  # neither OpenCV nor Pillow decoded a pixel
    assert peak < 4 * len(data) + 1_000_000  # a copy or two of the file, not 768 MB


def test_every_bound_is_checked_from_the_header(no_decoding: list[str]) -> None:
    # under Pillow's decompression-bomb bound (179 MP) the size itself is compared
    with pytest.raises(ImageDecodeError, match="cam: image 5000x4000 exceeds max_image_pix"):
        decode_image(huge_png(5000, 4000), "cam", 16_777_216)
    # over it Pillow refuses even where max_image_pixels (up to 268 MP) would allow it
    with pytest.raises(
        ImageDecodeError, match="400000000 pixels exceeds Pillow's decompression-bomb bound of 1789"
    ):
        decode_image(huge_png(20000, 20000), "cam", 1 << 29)
    with pytest.raises(ImageDecodeError, match="cam: 68 bytes without an image header") as info:
        decode_image(huge_png(0, 5), "cam")  # Pillow does not identify a 0-wide PNG
    assert info.value.kind == "undecodable"
    assert not no_decoding


def test_every_file_reader_bounds_the_size_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_decoding: list[str]
) -> None:
    path = tmp_path / "000000_10.png"
    path.write_bytes(huge_png(8200, 4100))  # 33.6 MP, just over MAX_IMAGE_PIXELS
    assert images.MAX_IMAGE_PIXELS < 8200 * 4100
    readers = [
        (read_png, LayoutError),
        (lambda p: read_png(p, color=False), LayoutError),
        (read_rgb, DatasetError),
        (read_label_png, DatasetError),
        (read_kitti_disparity, DatasetError),
    ]
    for read, error in readers:
        with pytest.raises(error, match="8200x4100 exceeds max_image_pixels=33554432") as info:
            read(path)
        assert str(path) in str(info.value)
        assert "\n" not in str(info.value)
    assert not no_decoding


def test_unreadable_and_undecodable_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match="missing.png: cannot read") as info:
        read_image(tmp_path / "missing.png")
    assert info.value.kind == "unreadable"
    for data in (b"not an image", huge_png(8, 8)[:40]):
        with pytest.raises(ImageDecodeError) as info:
            decode_image(data, "cam")
        assert info.value.kind == "undecodable"
        assert str(info.value).startswith("cam: ")
