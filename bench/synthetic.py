"""Synthetic world benchmark: stereo frames/s at 1024x448 and 2048x1024 on one core, SGBM error.

Run: .venv/bin/python bench/synthetic.py [--frames N] [--sgbm]
Rendering is single-threaded numpy; OMP/BLAS threads are pinned to 1 before numpy loads.
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from ladderseg_ros.data.synthetic import (  # noqa: E402
    CITYSCAPES_RIG,
    KITTI_RIG,
    WORLD_CLASSES,
    StereoRig,
    render_drive,
    render_frame,
)


def fps(rig: StereoRig, frames: int) -> tuple[float, float]:
    """Frames/s of a drive (world built once) and of independent frames (world per frame)."""
    drive = render_drive(0, frames + 1, rig)
    next(drive)  # warm-up: noise tiles, first allocation
    t0 = time.perf_counter()
    for _ in drive:
        pass
    drive_fps = frames / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for seed in range(frames):
        render_frame(seed, rig)
    return drive_fps, frames / (time.perf_counter() - t0)


def sgbm_error(rig: StereoRig, seeds: range, num_disparities: int) -> tuple[float, float]:
    """Median |SGBM - exact| in pixels over pixels valid in both, and SGBM density (0..1).

    The density is the share of pixels with ground-truth disparity that SGBM also measured.
    """
    import cv2

    from ladderseg_ros.stereo import SgbmConfig, compute_disparity

    cv2.setNumThreads(1)
    errs, dens = [], []
    for seed in seeds:
        frame = render_frame(seed, rig)
        disp = compute_disparity(frame.left, frame.right, SgbmConfig(num_disparities))
        gt = frame.disparity > 0
        both = gt & (disp > 0)
        errs.append(np.abs(disp[both] - frame.disparity[both]))
        dens.append(both.sum() / gt.sum())
    return float(np.median(np.concatenate(errs))), float(np.mean(dens))


def main() -> None:
    """Prints rendering frames/s per rig, and SGBM error and class frequencies when asked."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--sgbm", action="store_true", help="also measure SGBM at full presets")
    parser.add_argument("--freq", action="store_true", help="per-class pixel frequencies")
    args = parser.parse_args()
    for name, rig in (
        ("1024x448 (KITTI f scaled)", KITTI_RIG.resized(1024, 448)),
        ("2048x1024 (Cityscapes)", CITYSCAPES_RIG),
    ):
        n = args.frames if rig.width <= 1024 else max(2, args.frames // 3)
        drive_fps, frame_fps = fps(rig, n)
        print(f"{name:28s} drive {drive_fps:6.2f} stereo frames/s, "
              f"independent scenes {frame_fps:6.2f} frames/s ({n} frames)")  # fmt: skip
    if args.sgbm:
        for name, rig, nd in (("KITTI 1242x375", KITTI_RIG, 128),
                              ("Cityscapes 2048x1024", CITYSCAPES_RIG, 256)):  # fmt: skip
            err, dens = sgbm_error(rig, range(1_100_000, 1_100_003), nd)
            print(f"SGBM {name:22s} median |error| {err:.3f} px, density {dens:.1%}")
    if args.freq:
        from ladderseg_ros.classes import CITYSCAPES

        counts = np.zeros(256, np.int64)
        rig = KITTI_RIG.resized(621, 188)
        for seed in range(100):
            counts += np.bincount(render_frame(seed, rig).train_ids.ravel(), minlength=256)
        total = counts.sum()
        for c in WORLD_CLASSES:
            print(f"  {CITYSCAPES.names[c]:14s} {counts[c] / total:7.2%}")


if __name__ == "__main__":
    main()
