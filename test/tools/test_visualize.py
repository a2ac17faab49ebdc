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


def _camera_row(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    labels = rng.integers(0, 19, (height, width), dtype=np.uint8)
    return compose_row(left, labels, CITYSCAPES, None, labels)


@pytest.mark.parametrize(
    ("camera", "video"),
    [((2048, 1024), (4096, 512)), ((4096, 2160), (4096, 540)), ((1241, 375), (4096, 308))],
)
def test_videos_at_camera_sizes_are_scaled_to_what_the_codec_takes(
    tmp_path: Path, camera: tuple[int, int], video: tuple[int, int]
) -> None:
    """A 4-panel row of a 2048x1024 camera is 8192 wide: mp4v refused it ("cannot open a
    mp4v video writer") after all the work. Rows are scaled to 4096 a side (even sides)."""
    from ladderseg_ros.tools.visualize import fitted_size

    assert fitted_size(4 * camera[0], camera[1]) == video
    path = tmp_path / "v.mp4"
    with VideoWriter(path, 5.0) as writer:
        for seed in range(2):
            writer.write(_camera_row(*camera, seed))
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    assert ok
    assert (frame.shape[1], frame.shape[0]) == video
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_contact_sheets_of_wide_rows_are_scaled(tmp_path: Path) -> None:
    rows = [_camera_row(2048, 256, seed) for seed in range(3)]
    sheet = contact_sheet(rows)
    assert sheet.shape == (3 * 128 + 2 * 4, 4096, 3)
    small = [row(0), row(1)]
    assert contact_sheet(small).shape[1] == 4 * W  # narrow rows as they are


def test_a_video_the_codec_refuses_never_loses_the_demo_pictures(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """The demo's contact sheet and score are kept when no video can be written."""
    from types import SimpleNamespace

    from ladderseg_ros.io import bags
    from ladderseg_ros.tools import visualize
    from ladderseg_ros.tools.demo.pictures import pictures_and_score

    p_left, p_right = bags.stereo_projections(1000.0, 1000.0, 1024.0, 512.0, 0.5)
    rng = np.random.default_rng(0)
    collector = SimpleNamespace(labels={}, disparity={})
    bag = tmp_path / "bag"
    with bags.BagWriter(bag) as writer:
        for i in range(2):
            stamp = 10**9 + i * 10**8
            truth = rng.integers(0, 19, (1024, 2048), dtype=np.uint8)
            left = rng.integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
            frame = bags.StereoBagFrame(stamp, left, p_left, p_right=p_right, semantic_gt=truth)
            writer.write_frame(frame)
            collector.labels[stamp] = (0.0, truth)
    work = tmp_path / "work"
    work.mkdir()
    confusion, files = pictures_and_score(bag, collector, CITYSCAPES, work)
    assert [f.name for f in files] == ["contact_sheet.png", "demo.mp4"]
    assert confusion.pixel_accuracy() == 1.0
    assert cv2.imread(str(work / "contact_sheet.png")).shape[1] == 4096
    monkeypatch.setattr(visualize, "VIDEO_FOURCC", "ZZZZ")  # a codec this OpenCV lacks
    again = tmp_path / "again"
    again.mkdir()
    with caplog.at_level("WARNING"):
        confusion, files = pictures_and_score(bag, collector, CITYSCAPES, again)
    assert [f.name for f in files] == ["contact_sheet.png"]
    assert confusion.pixel_accuracy() == 1.0
    assert sorted(p.name for p in again.iterdir()) == ["contact_sheet.png"]
    assert any(
        "no video: cannot open a ZZZZ video writer" in r.getMessage() for r in caplog.records
    )
