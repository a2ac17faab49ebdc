"""The synthetic stereo world: determinism, coverage, exact ground truth, SGBM, drives, CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.classes import TRAIN_TO_LABEL_ID
from ladderseg_ros.cli import synth as synth_cli
from ladderseg_ros.data.layouts import (
    cityscapes_samples,
    read_cityscapes_camera,
    read_cityscapes_disparity,
    read_kitti_raw_drive,
    read_png,
)
from ladderseg_ros.data.synthetic import (
    CITYSCAPES_RIG,
    KITTI_RIG,
    SKY,
    SPLIT_SEEDS,
    WORLD_CLASSES,
    StereoRig,
    SyntheticError,
    drive_poses,
    render_drive,
    render_frame,
)
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.stereo import SgbmConfig, baseline_from_projections, compute_disparity

SMALL = KITTI_RIG.resized(414, 125)


def test_rig_presets_and_resize() -> None:
    assert (KITTI_RIG.width, KITTI_RIG.height, KITTI_RIG.baseline) == (1242, 375, 0.54)
    assert KITTI_RIG.focal == pytest.approx(721, abs=1)
    assert (CITYSCAPES_RIG.width, CITYSCAPES_RIG.height) == (2048, 1024)
    assert CITYSCAPES_RIG.focal == pytest.approx(2262, abs=1)
    half = CITYSCAPES_RIG.resized(1024, 512)
    assert half.focal == pytest.approx(CITYSCAPES_RIG.focal / 2)
    assert half.baseline == CITYSCAPES_RIG.baseline
    p_left, p_right = half.projections()
    assert baseline_from_projections(p_left, p_right) == pytest.approx(half.baseline)
    with pytest.raises(SyntheticError):
        StereoRig(640, 480, 500.0, -0.1)
    assert issubclass(SyntheticError, LadderSegError)


def test_split_seeds_are_disjoint() -> None:
    names = list(SPLIT_SEEDS)
    assert set(names) == {"train", "val", "test"}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not set(SPLIT_SEEDS[a]) & set(SPLIT_SEEDS[b][:1000])
            assert max(SPLIT_SEEDS[a].start, SPLIT_SEEDS[b].start) >= min(
                SPLIT_SEEDS[a].stop, SPLIT_SEEDS[b].stop
            )


def test_render_is_deterministic_per_seed() -> None:
    a, b, c = render_frame(7, SMALL), render_frame(7, SMALL), render_frame(8, SMALL)
    for name in ("left", "right", "train_ids", "label_ids", "disparity", "depth"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.left, c.left)
    assert not np.array_equal(a.train_ids, c.train_ids)
    assert a.left.shape == (125, 414, 3)
    assert a.left.dtype == np.uint8
    assert a.train_ids.dtype == np.uint8
    assert a.disparity.dtype == np.float32
    assert a.seed == 7
    assert a.index == 0
    assert a.rig == SMALL


def test_every_class_appears_over_20_seeds() -> None:
    counts = np.zeros(256, np.int64)
    for seed in range(20):
        counts += np.bincount(render_frame(seed, SMALL).train_ids.ravel(), minlength=256)
    missing = [c for c in WORLD_CLASSES if counts[c] == 0]
    assert not missing, f"classes never rendered: {missing}"
    assert counts[19:].sum() == 0  # only trainIds, no ignore


def test_ground_truth_is_consistent() -> None:
    frame = render_frame(3, SMALL)
    sky = frame.train_ids == SKY
    assert sky.any()
    assert (~sky).any()
    assert np.all(frame.disparity[sky] == 0)
    assert np.all(frame.depth[sky] == 0)
    solid = ~sky
    assert np.all(frame.depth[solid] > 0)
    expect = SMALL.focal * SMALL.baseline / frame.depth[solid]
    assert np.allclose(frame.disparity[solid], expect, rtol=1e-5)
    order = np.argsort(frame.depth[solid])
    assert np.all(np.diff(frame.disparity[solid][order]) <= 1e-4)
    assert np.array_equal(frame.label_ids, TRAIN_TO_LABEL_ID[frame.train_ids])
    # Nearby classes are seen 3 m away or closer, far ones beyond 60 m: >10x apparent sizes.
    assert frame.depth[solid].min() < 6
    assert frame.depth[solid].max() > 60


def test_right_view_is_the_left_view_shifted_by_disparity() -> None:
    frame = render_frame(11, SMALL)
    rows, cols = np.nonzero(frame.disparity > 0)
    xr = np.round(cols - frame.disparity[rows, cols]).astype(int)
    ok = xr >= 0
    diff = np.abs(
        frame.left[rows[ok], cols[ok]].astype(int) - frame.right[rows[ok], xr[ok]].astype(int)
    ).mean(1)
    assert np.median(diff) < 12


@pytest.mark.parametrize(
    ("rig", "num_disparities"),
    [(KITTI_RIG, 128), (CITYSCAPES_RIG, 256)],  # the presets at full size (about 1 s and 3 s)
    ids=["kitti", "cityscapes"],
)
def test_sgbm_recovers_rendered_disparity(rig: StereoRig, num_disparities: int) -> None:
    frame = render_frame(SPLIT_SEEDS["test"].start, rig)
    disp = compute_disparity(frame.left, frame.right, SgbmConfig(num_disparities))
    gt_valid = frame.disparity > 0
    both = gt_valid & (disp > 0)
    assert both.sum() > 0.6 * gt_valid.sum()
    assert np.median(np.abs(disp[both] - frame.disparity[both])) < 1.0


def test_drive_moves_forward_smoothly_in_one_world() -> None:
    poses = drive_poses(5, 30, 10.0, 1.7)
    z = np.array([p.z for p in poses])
    yaw = np.array([p.yaw for p in poses])
    assert np.all(np.diff(z) > 0.5)
    assert np.all(np.diff(z) < 1.3)
    assert np.abs(yaw).max() < np.radians(3)
    assert np.abs(np.diff(yaw)).max() < np.radians(0.5)
    frames = list(render_drive(5, 3, SMALL, fps=5.0))
    assert [f.index for f in frames] == [0, 1, 2]
    assert np.allclose(np.diff([f.timestamp for f in frames]), 0.2)
    assert frames[0].timestamp > 0
    assert not np.array_equal(frames[0].left, frames[2].left)
    again = next(iter(render_drive(5, 3, SMALL, fps=5.0)))
    assert np.array_equal(again.left, frames[0].left)
    # The same world: the road ahead keeps its class mix from frame to frame.
    h = [np.bincount(f.train_ids.ravel(), minlength=19)[:19] / f.train_ids.size for f in frames]
    assert np.abs(h[0] - h[1]).sum() < 0.5
    with pytest.raises(SyntheticError):
        list(render_drive(5, 2, SMALL, fps=0.0))


def _synth(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    synth_cli.register(parser.add_subparsers())
    args = parser.parse_args(["synth", *argv])
    return args.func(args)


def test_synth_writes_cityscapes_layout(tmp_path: Path) -> None:
    out = tmp_path / "cs"
    assert _synth(["--frames", "2", "--out", str(out), "--split", "val", "--size", "128x64"]) == 0
    samples = cityscapes_samples(out, "val")
    assert len(samples) == 2
    for s in samples:
        assert s.right
        assert s.disparity
        assert s.camera
        assert s.label_ids
        assert read_png(s.left).shape == (64, 128, 3)
        assert read_cityscapes_disparity(s.disparity).max() > 0
        assert read_cityscapes_camera(s.camera).baseline == pytest.approx(0.209313)
        assert set(np.unique(read_png(s.label_ids, color=False))) <= set(
            TRAIN_TO_LABEL_ID[list(WORLD_CLASSES)]
        )
    with pytest.raises(LadderSegError, match="not an empty directory"):
        _synth(["--frames", "1", "--out", str(out), "--size", "128x64"])
    with pytest.raises(LadderSegError, match="outside the val seeds"):
        _synth(["--frames", "1", "--out", str(tmp_path / "x"), "--split", "val", "--seed", "0"])


def test_synth_accepts_the_last_seeds_of_a_split(tmp_path: Path) -> None:
    # --preview-seeds (default 4) matters only with --preview: one frame at the split's end.
    last = SPLIT_SEEDS["test"].stop - 1
    out = tmp_path / "cs"
    argv = ["--split", "test", "--seed", str(last), "--frames", "1", "--size", "64x32"]
    assert _synth([*argv, "--out", str(out)]) == 0
    assert len(cityscapes_samples(out, "test")) == 1
    assert _synth([*argv, "--preset", "kitti", "--frames", "3", "--out", str(tmp_path / "k")]) == 0
    preview = ["--split", "test", "--seed", str(last), "--size", "64x32"]
    with pytest.raises(LadderSegError, match=r"\+1\) lies outside the test seeds"):
        _synth([*preview, "--preview", str(tmp_path / "p.png"), "--preview-seeds", "2"])
    with pytest.raises(LadderSegError, match=r"\+1\) lies outside the test seeds"):
        _synth(
            ["--split", "test", "--seed", str(last), "--frames", "2", "--out", str(tmp_path / "x")]
        )


def test_synth_writes_kitti_raw_layout(tmp_path: Path) -> None:
    out = tmp_path / "kitti"
    assert (
        _synth(["--preset", "kitti", "--frames", "3", "--out", str(out), "--size", "124x38"]) == 0
    )
    (drive_dir,) = out.glob("*/*_drive_*_sync")
    drive = read_kitti_raw_drive(drive_dir)
    assert len(drive.left) == len(drive.right) == 3
    assert np.allclose(np.diff(drive.timestamps), 0.1, atol=1e-6)
    assert baseline_from_projections(drive.p_left, drive.p_right) == pytest.approx(0.54)
    assert read_png(drive.left[0]).shape == (38, 124, 3)


def test_synth_preview_contact_sheet(tmp_path: Path) -> None:
    path = tmp_path / "sheet.png"
    assert _synth(["--preview", str(path), "--preview-seeds", "2", "--size", "124x38"]) == 0
    sheet = read_png(path)
    assert sheet.shape == (2 * round(480 * 38 / 124), 4 * 480, 3)
    written = path.read_bytes()
    with pytest.raises(LadderSegError, match="sheet.png exists already, not overwriting"):
        _synth(["--preview", str(path), "--preview-seeds", "1", "--size", "124x38"])
    assert path.read_bytes() == written
    with pytest.raises(LadderSegError, match="drop --out"):
        _synth(["--preview", str(tmp_path / "b.png"), "--out", str(tmp_path / "cs")])
    # the dataset's options would be ignored: named, not dropped silently
    argv = ["--preview", str(tmp_path / "b.png"), "--layout", "kitti", "--frames", "3"]
    with pytest.raises(LadderSegError, match="drop --layout, --frames, --fps"):
        _synth([*argv, "--fps", "5"])
    with pytest.raises(LadderSegError, match="the contact sheet is a .png file"):
        _synth(["--preview", str(tmp_path / "b.jpg")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


def test_synth_writes_either_rig_in_either_layout(tmp_path: Path) -> None:
    """Labelled held-out frames of the KITTI rig (Cityscapes layout), and a Cityscapes-rig
    drive in the KITTI raw layout."""
    out = tmp_path / "kitti_rig"
    argv = ["--preset", "kitti", "--layout", "cityscapes", "--split", "test", "--frames", "2"]
    assert _synth([*argv, "--out", str(out), "--size", "124x38"]) == 0
    samples = cityscapes_samples(out, "test")
    assert len(samples) == 2
    assert all(s.label_ids for s in samples)
    assert read_cityscapes_camera(samples[0].camera).baseline == pytest.approx(0.54)
    assert read_png(samples[0].left).shape == (38, 124, 3)
    out = tmp_path / "cs_rig"
    argv = ["--preset", "cityscapes", "--layout", "kitti", "--frames", "2", "--size", "128x64"]
    assert _synth([*argv, "--out", str(out)]) == 0
    (drive_dir,) = out.glob("*/*_drive_*_sync")
    drive = read_kitti_raw_drive(drive_dir)
    assert len(drive.left) == 2
    assert baseline_from_projections(drive.p_left, drive.p_right) == pytest.approx(0.209313)


def test_interrupted_synth_leaves_nothing_and_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after the first frame: no partial --out, and the same command then works."""
    from ladderseg_ros.data import layouts

    out = tmp_path / "cs"
    real = layouts.write_cityscapes_sample
    written = []

    def interrupted(*args, **kwargs):
        if written:
            raise KeyboardInterrupt
        written.append(real(*args, **kwargs))

    monkeypatch.setattr(layouts, "write_cityscapes_sample", interrupted)
    argv = ["--frames", "2", "--out", str(out), "--split", "val", "--size", "64x32"]
    with pytest.raises(KeyboardInterrupt):
        _synth(argv)
    assert written
    assert sorted(tmp_path.iterdir()) == []
    monkeypatch.setattr(layouts, "write_cityscapes_sample", real)
    assert _synth(argv) == 0
    assert len(cityscapes_samples(out, "val")) == 2
