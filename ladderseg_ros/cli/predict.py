"""``ladderseg predict WEIGHTS INPUT OUT``: segment a folder of images or a dataset root.

INPUT is a folder of images (``*.png``, ``*.jpg``), a Cityscapes root (``leftImg8bit/`` inside;
disparity and camera JSON are read, or disparity computed by SGBM from ``rightImg8bit``), or a
KITTI raw root or ``*_sync`` drive (disparity by SGBM, baseline from the calibration). For
each input image it writes ``OUT/<name>_labelTrainIds.png`` (uint8 trainIds) and
``OUT/<name>_color.png``.

Each image is resized so that the network sees objects at the scale its weights were trained
at, using the camera's focal length (Cityscapes camera JSON, KITTI calibration, or ``--focal``
for a folder of images; else the trained input width), and labels come back at the image's
size. ``--input-size`` overrides that.

Interrupted runs resume: ``OUT/.ladderseg_predict.json`` records the weights (SHA-256) and
settings, and a rerun with the same ones writes only the images not yet there (each PNG is
written atomically, so none is partial). An OUT made with other weights or settings, or
holding other files, is refused: nothing is overwritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ladderseg_ros.classes import colorize
from ladderseg_ros.cli.args import add_backend_arguments, parse_size
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


def _settings(args: argparse.Namespace) -> dict[str, object]:
    digest = hashlib.sha256()
    with args.weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {
        "weights_sha256": digest.hexdigest(),
        "input": str(args.input.resolve()),
        "backend": args.backend,
        "input_size": args.input_size,
        "focal": args.focal,
        "precision": args.precision,
        "split": args.split,
        "baseline": args.baseline,
    }


def _plain_weights_hint() -> str:
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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``predict`` to the ``ladderseg`` subcommands."""
    parser = subparsers.add_parser(
        "predict",
        help="segment a folder of images or a Cityscapes / KITTI root to label PNGs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", type=Path, help=".safetensors (or .onnx for onnxruntime)")
    parser.add_argument("input", type=Path, help="image folder, Cityscapes root or KITTI root")
    parser.add_argument("out", type=Path, help="output folder")
    add_backend_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu (default auto)")
    parser.add_argument("--half", action="store_true", help="fp16 (torch on CUDA)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: every core)")
    parser.add_argument(
        "--input-size",
        help="network input WxH (default: each image resized to the weights' trained scale)",
    )
    parser.add_argument(
        "--focal", type=float, help="camera fx in pixels for a folder of images (sets the scale)"
    )
    parser.add_argument("--split", default="val", help="Cityscapes split (default val)")
    parser.add_argument("--baseline", type=float, help="baseline in metres when not in INPUT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Segments every image of ``args.input`` into ``args.out`` (resuming); returns 0.

    Raises:
        PredictError: an input that cannot be segmented as asked, or an OUT of another run.
    """
    from tqdm import tqdm

    from ladderseg_ros.inference import Segmenter

    out: Path = args.out
    if out.resolve() == args.input.resolve() or args.input.resolve() in out.resolve().parents:
        raise PredictError(f"{out} lies inside the input {args.input}; choose another folder")
    kind, jobs = find_jobs(args.input, args.split)
    size = parse_size(args.input_size) if args.input_size else None
    segmenter = Segmenter.from_weights(
        args.weights,
        args.backend,
        args.device,
        args.half,
        args.threads,
        size,
        precision=args.precision,
    )
    if segmenter.uses_disparity and kind == "images" and not any(j.right for j in jobs):
        raise PredictError(
            f"{args.weights} ({segmenter.metadata.model.name}) selects scales by disparity, "
            f"and {args.input} holds single images: use weights that need no disparity "
            f"({_plain_weights_hint()}), or give a Cityscapes/KITTI root with right images"
        )
    held = prepare_out(out, _settings(args))
    done = 0
    for job in tqdm(jobs, desc=f"predict ({kind}, {segmenter.backend_name})", unit="img"):
        paths = (out / f"{job.name}_labelTrainIds.png", out / f"{job.name}_color.png")
        if all(p.is_file() for p in paths):
            done += 1
            continue  # written by an interrupted run with the same weights and settings
        rgb = read_png(job.left)
        disparity = baseline = None
        if segmenter.uses_disparity:
            disparity, baseline = _stereo(job, rgb, args.baseline)
        result = segmenter(rgb, disparity, baseline, focal_length=job.focal or args.focal)
        if not paths[0].is_file():
            write_png(paths[0], result.labels)
        if not paths[1].is_file():
            write_png(paths[1], colorize(result.labels, segmenter.label_set))
    resumed = f" (resumed: {done} were there)" if held else ""
    print(f"wrote {len(jobs) - done} label and colour PNG pairs to {out}{resumed}")
    return 0
