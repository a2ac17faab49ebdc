"""Frame rows, contact sheets, atomic PNG/video writers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ladderseg_ros.classes import CITYSCAPES
from ladderseg_ros.tools.visualize import (
    VideoWriter,
    VisualizeError,
    colorize_disparity,
    compose_row,
    contact_sheet,
    write_png,
)

H, W = 40, 64


def row(value: int) -> np.ndarray:
    left = np.full((H, W, 3), value, np.uint8)
    labels = np.full((H, W), 13, np.uint8)  # car
    disparity = np.tile(np.linspace(0, 30, W, dtype=np.float32), (H, 1))
    return compose_row(left, labels, CITYSCAPES, disparity, labels)


def test_row_panels_in_order() -> None:
    out = row(100)
    assert out.shape == (H, 4 * W, 3)
    car = CITYSCAPES.colors[13]
    np.testing.assert_array_equal(out[-1, 2 * W + 5], car)  # segmentation, below the caption
    np.testing.assert_array_equal(out[-1, 3 * W + 5], car)  # ground truth
    np.testing.assert_array_equal(out[-1, W], [0, 0, 0])  # disparity 0: invalid, black
    assert out[-1, 2 * W - 1].any()  # valid disparity is coloured
    with pytest.raises(VisualizeError, match="segmentation panel"):
        compose_row(np.zeros((H, W, 3), np.uint8), np.zeros((H, W + 1), np.uint8), CITYSCAPES)


def test_colorize_disparity_marks_invalid_black() -> None:
    disp = np.array([[0.0, np.nan, 5.0, 10.0]], np.float32)
    rgb = colorize_disparity(disp)
    assert not rgb[0, :2].any()
    assert rgb[0, 2:].any()
    assert not np.array_equal(rgb[0, 2], rgb[0, 3])


def test_contact_sheet_spreads_rows() -> None:
    rows = [row(v) for v in range(10)]
    sheet = contact_sheet(rows, max_rows=3)
    assert sheet.shape == (3 * H + 2 * 4, 4 * W, 3)
    assert [sheet[i * (H + 4) + H - 1, W - 1, 0] for i in range(3)] == [0, 4, 9]  # picks 0, 4/5, 9
    with pytest.raises(VisualizeError):
        contact_sheet([])


def test_writers_are_atomic_and_refuse_overwrite(tmp_path: Path) -> None:
    png = write_png(tmp_path / "a.png", row(50))
    assert cv2.imread(str(png)).shape == (H, 4 * W, 3)
    with pytest.raises(VisualizeError, match="exists already"):
        write_png(png, row(50))
    with VideoWriter(tmp_path / "v.mp4", 5.0) as video:
        for v in (0, 120, 240):
            video.write(row(v))
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert capture.read()[1].shape == (H, 4 * W, 3)

    def interrupted_video() -> None:
        with VideoWriter(tmp_path / "w.mp4", 5.0) as video:
            video.write(row(0))
            raise RuntimeError("interrupted")

    def video_of_two_sizes() -> None:
        with VideoWriter(tmp_path / "x.mp4", 5.0) as video:
            video.write(row(0))
            video.write(np.zeros((H, W, 3), np.uint8))

    with pytest.raises(RuntimeError):
        interrupted_video()
    with pytest.raises(VisualizeError, match="frame"):
        video_of_two_sizes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "v.mp4"]


def test_a_target_that_appears_meanwhile_is_never_replaced(tmp_path: Path) -> None:
    """Publication is a link that fails on an existing name (fileio.atomic_output)."""
    target = tmp_path / "v.mp4"

    def write_while_another_process_wins_the_race() -> None:
        with VideoWriter(target, 5.0) as video:
            video.write(row(0))
            target.write_bytes(b"someone else's")

    with pytest.raises(VisualizeError, match="exists already"):
        write_while_another_process_wins_the_race()
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]  # no temporary file left
