"""Segment a folder of images or a dataset root into label PNGs (``ladderseg predict``).

The inputs become ``Job``s (``find_jobs``): a folder of images, a Cityscapes root or a KITTI
raw root or drive, with what each knows of its stereo geometry. ``prepare_out`` makes the
output folder resumable (a manifest of weights and settings), and ``predict_jobs`` writes
``<name>_labelTrainIds.png`` and ``<name>_color.png`` per job, each PNG atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ladderseg_ros.classes import colorize
from ladderseg_ros.data.layouts import (
    cityscapes_samples,
    read_cityscapes_camera,
    read_cityscapes_disparity,
    read_kitti_raw_drive,
    read_png,
    write_png,
)
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import write_bytes_atomic
from ladderseg_ros.stereo import SgbmConfig, baseline_from_projections, compute_disparity

if TYPE_CHECKING:
    from ladderseg_ros.inference import Segmenter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST = ".ladderseg_predict.json"


class PredictError(LadderSegError, ValueError):
    """An input that cannot be segmented as asked."""


@dataclass(frozen=True)
class Job:
    """One image to segment, with what is known about its stereo geometry."""

    name: str
    left: Path
    right: Path | None = None
    disparity: Path | None = None
    baseline: float | None = None
    focal: float | None = None
    cx_offset: float = 0.0  # cx_left - cx_right of the rectified pair (px)


def folder_jobs(root: Path) -> list[Job]:
    """One job per image (``IMAGE_SUFFIXES``) in ``root``, by name; no stereo geometry."""
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [Job(p.stem, p) for p in images]


def cityscapes_jobs(root: Path, split: str) -> list[Job]:
    """One job per left image of a Cityscapes ``split``.

    With its right image, disparity and camera (baseline, focal length) where present.
    """
    jobs = []
    for s in cityscapes_samples(root, split):
        camera = read_cityscapes_camera(s.camera) if s.camera else None
        name = s.left.name.removesuffix("_leftImg8bit.png")
        jobs.append(
            Job(
                name,
                s.left,
                s.right,
                s.disparity,
                camera.baseline if camera else None,
                camera.fx if camera else None,
            )
        )
    return jobs


def kitti_jobs(root: Path) -> list[Job]:
    """One job per left image of a KITTI raw drive (or of every ``*/*_sync`` drive of a root).

    With the right image and the calibration's baseline, focal length and cx offset.
    """
    drives = [root] if (root / "image_02").is_dir() else sorted(root.glob("*/*_sync"))
    jobs = []
    for drive_dir in drives:
        drive = read_kitti_raw_drive(drive_dir)
        baseline = baseline_from_projections(drive.p_left, drive.p_right)
        focal = float(drive.p_left[0, 0])
        cx_offset = float(drive.p_left[0, 2] - drive.p_right[0, 2])
        for left, right in zip(drive.left, drive.right, strict=True):
            name = f"{drive_dir.name}_{left.stem}"
            jobs.append(Job(name, left, right, None, baseline, focal, cx_offset))
    return jobs


def find_jobs(root: Path, split: str) -> tuple[str, list[Job]]:
    """The kind of INPUT and its images."""
    if not root.is_dir():
        raise PredictError(f"{root} is not a directory")
    if (root / "leftImg8bit").is_dir():
        return "cityscapes", cityscapes_jobs(root, split)
    if (root / "image_02").is_dir() or any(root.glob("*/*_sync/image_02")):
        return "kitti", kitti_jobs(root)
    jobs = folder_jobs(root)
    if not jobs:
        raise PredictError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) and no dataset layout")
    return "images", jobs


def _stereo(job: Job, rgb: np.ndarray, baseline: float | None) -> tuple[np.ndarray, float]:
    baseline = job.baseline if job.baseline is not None else baseline
    if baseline is None:
        raise PredictError(f"{job.left}: no camera calibration; pass --baseline METRES")
    if job.disparity is not None:
        return read_cityscapes_disparity(job.disparity), baseline
    if job.right is None:
        raise PredictError(f"{job.left}: the model needs disparity and there is no right image")
    # SGBM needs the disparity range well inside the image: cap it for small images.
    num = min(SgbmConfig().num_disparities, max(16, rgb.shape[1] // 32 * 16))
    config = SgbmConfig(num_disparities=num)
    return compute_disparity(rgb, read_png(job.right), config, job.cx_offset), baseline


def prepare_out(out: Path, settings: dict[str, object]) -> int:
    """Make ``out`` ready for a run with ``settings``; returns how many files it holds.

    Raises:
        PredictError: ``out`` holds files of another run (other weights or settings) or
            files that no predict run wrote.
    """
    manifest = out / MANIFEST
    text = json.dumps(settings, indent=1, sort_keys=True) + "\n"
    if out.is_dir() and any(out.iterdir()):
        if not manifest.is_file():
            raise PredictError(
                f"{out} is not empty and no predict run wrote it; choose another OUT"
            )
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PredictError(f"{manifest}: unreadable ({exc}); choose another OUT") from None
        if previous != json.loads(text):
            changed = sorted(k for k in settings if previous.get(k) != settings[k])
            raise PredictError(
                f"{out} holds predictions made with other {', '.join(changed) or 'settings'}; "
                "choose another OUT (nothing is overwritten)"
            )
        return sum(1 for p in out.iterdir() if p.name != MANIFEST)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(manifest, text.encode())
    return 0


def plain_weights_hint() -> str:
    """The shipped weights that need no disparity, or how to find such weights."""
    from ladderseg_ros.weights import WeightsError, read_metadata

    assets = Path(__file__).resolve().parent.parent / "assets"
    plain = []
    for path in sorted(assets.glob("*.safetensors")):
        try:
            if not read_metadata(path).model.uses_disparity:
                plain.append(str(path))
        except WeightsError:
            continue
    if plain:
        return "shipped: " + ", ".join(plain)
    return "`ladderseg info WEIGHTS` says 'disparity: no' for those"


def output_paths(out: Path, job: Job) -> tuple[Path, Path]:
    """The label (trainIds) and colour PNGs of ``job`` in ``out``."""
    return out / f"{job.name}_labelTrainIds.png", out / f"{job.name}_color.png"


def predict_jobs(
    segmenter: Segmenter,
    jobs: Iterable[Job],
    out: Path,
    baseline: float | None = None,
    focal: float | None = None,
) -> int:
    """Segments every job into ``out``; returns how many were there already.

    Args:
        segmenter: the network (disparity by SGBM or from the dataset when it needs some).
        jobs: the images (e.g. wrapped in a progress bar).
        out: the folder made ready by ``prepare_out``.
        baseline: metres, for jobs whose input has no calibration.
        focal: camera fx in pixels, for jobs whose input has none (sets the scale).

    Raises:
        PredictError: a job needs disparity that cannot be had.
    """
    done = 0
    for job in jobs:
        paths = output_paths(out, job)
        if all(p.is_file() for p in paths):
            done += 1
            continue  # written by an interrupted run with the same weights and settings
        rgb = read_png(job.left)
        disparity = job_baseline = None
        if segmenter.uses_disparity:
            disparity, job_baseline = _stereo(job, rgb, baseline)
        result = segmenter(rgb, disparity, job_baseline, focal_length=job.focal or focal)
        if not paths[0].is_file():
            write_png(paths[0], result.labels)
        if not paths[1].is_file():
            write_png(paths[1], colorize(result.labels, segmenter.label_set))
    return done
