"""On-disk layouts of the real datasets (Cityscapes, KITTI raw): path patterns, readers, writers.

The synthetic world writes itself through the same writers, so that the code reading real
Cityscapes or KITTI data runs unchanged on it. Writers never overwrite: each file is written
under a temporary name and renamed into place, and an existing target is an error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import InputFileError, OutputExistsError, write_bytes_atomic
from ladderseg_ros.fileio import read_text as _read_text

KITTI_CALIB_NAME = "calib_cam_to_cam.txt"
_CS_NAME = re.compile(r"^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.png$")


class LayoutError(LadderSegError, OSError):
    """A dataset directory or file does not follow the expected layout."""


@dataclass(frozen=True)
class CameraCalib:
    """Rectified pinhole intrinsics plus stereo baseline (Cityscapes ``camera/*.json``)."""

    fx: float
    fy: float
    u0: float
    v0: float
    baseline: float


@dataclass(frozen=True)
class CityscapesSample:
    """Paths of one Cityscapes frame; absent companions are ``None``."""

    left: Path
    right: Path | None = None
    disparity: Path | None = None
    camera: Path | None = None
    label_ids: Path | None = None


@dataclass(frozen=True)
class KittiRawDrive:
    """One KITTI raw ``*_sync`` drive: image lists, timestamps and rectified projections.

    ``timestamps`` are float seconds (~0.2 us resolution at 1.3e9 s); ``timestamps_ns`` are
    the same stamps as exact integer nanoseconds (for ROS headers and bags).
    """

    left: list[Path]
    right: list[Path]
    timestamps: list[float]
    p_left: np.ndarray
    p_right: np.ndarray
    timestamps_ns: list[int] = field(default_factory=list)


# ----------------------------------------------------------------------------- files


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` atomically (``fileio.atomic_output``).

    Raises:
        LayoutError: ``path`` exists already (a dataset file is never replaced).
    """
    try:
        write_bytes_atomic(path, data)
    except OutputExistsError as exc:
        raise LayoutError(str(exc)) from None


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write an (H,W) uint8/uint16 or (H,W,3) uint8 RGB image as PNG, atomically."""
    import cv2

    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise LayoutError(f"{path}: cannot write image of {image.dtype} {image.shape} as PNG")
    if image.ndim == 3:
        if image.shape[2] != 3 or image.dtype != np.uint8:
            raise LayoutError(f"{path}: colour images must be (H,W,3) uint8, got {image.shape}")
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise LayoutError(f"{path}: PNG encoding failed")
    _write_atomic(Path(path), buf.tobytes())


def read_png(path: str | Path, color: bool = True) -> np.ndarray:
    """Read an image file: (H,W,3) uint8 RGB when ``color``, else the stored single channel.

    Any format OpenCV and Pillow both read, in its stored orientation (EXIF ignored), and
    never one whose header declares more than ``images.MAX_IMAGE_PIXELS`` (checked before
    decoding; see ``data.images``).

    Raises:
        LayoutError: The file is missing, unreadable, too large or (not ``color``) not a
            single-channel image; one line naming the file.
    """
    from ladderseg_ros.data.images import ImageDecodeError, read_image

    try:
        image = read_image(path, color)
    except ImageDecodeError as exc:
        raise LayoutError(str(exc)) from None
    if color:
        return image
    if image.ndim != 2:
        raise LayoutError(f"{path}: expected a single-channel image, got shape {image.shape}")
    return image


# ----------------------------------------------------------------------------- Cityscapes


def cityscapes_paths(
    root: str | Path, split: str, city: str, seq: int, frame: int
) -> dict[str, Path]:
    """Every file name of one Cityscapes frame, keyed by kind (``left``, ``right``, ...)."""
    stem = f"{city}_{seq:06d}_{frame:06d}"
    root = Path(root)
    return {
        "left": root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
        "right": root / "rightImg8bit" / split / city / f"{stem}_rightImg8bit.png",
        "disparity": root / "disparity" / split / city / f"{stem}_disparity.png",
        "camera": root / "camera" / split / city / f"{stem}_camera.json",
        "label_ids": root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
        "color": root / "gtFine" / split / city / f"{stem}_gtFine_color.png",
    }


def cityscapes_samples(
    root: str | Path, split: str, cities: Iterable[str] | None = None
) -> list[CityscapesSample]:
    """List the frames of a Cityscapes split, sorted by city, sequence and frame.

    Raises:
        LayoutError: ``root/leftImg8bit/split`` is missing or holds no images, or a city
            in ``cities`` is not there (the message names it and the cities found).
    """
    root = Path(root)
    base = root / "leftImg8bit" / split
    if not base.is_dir():
        raise LayoutError(f"{base} is not a directory (expected the Cityscapes layout)")
    wanted = None if cities is None else set(cities)
    if wanted is not None:
        present = sorted(p.name for p in base.iterdir() if p.is_dir())
        unknown = sorted(wanted - set(present))
        if unknown:
            raise LayoutError(
                f"{base}: no city {', '.join(unknown)} (cities there: "
                f"{', '.join(present) or 'none'})"
            )
    samples = []
    for left in sorted(base.glob("*/*_leftImg8bit.png")):
        match = _CS_NAME.match(left.name)
        city = left.parent.name
        if match is None or (wanted is not None and city not in wanted):
            continue
        stem = left.name[: -len("_leftImg8bit.png")]
        companions = {
            "right": root / "rightImg8bit" / split / city / f"{stem}_rightImg8bit.png",
            "disparity": root / "disparity" / split / city / f"{stem}_disparity.png",
            "camera": root / "camera" / split / city / f"{stem}_camera.json",
            "label_ids": root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
        }
        samples.append(
            CityscapesSample(
                left=left, **{k: (p if p.is_file() else None) for k, p in companions.items()}
            )
        )
    if not samples:
        raise LayoutError(f"no *_leftImg8bit.png images under {base}")
    return samples


def read_cityscapes_disparity(path: str | Path) -> np.ndarray:
    """Read a Cityscapes disparity PNG: float32 pixels, d = (p - 1) / 256, p = 0 -> 0."""
    raw = read_png(path, color=False)
    if raw.dtype != np.uint16:
        raise LayoutError(f"{path}: Cityscapes disparity must be uint16, got {raw.dtype}")
    disp = (raw.astype(np.float32) - 1.0) / 256.0
    disp[raw == 0] = 0.0
    return disp


def encode_cityscapes_disparity(disparity: np.ndarray) -> np.ndarray:
    """Encode float disparity (0 = invalid) as Cityscapes uint16, p = d * 256 + 1."""
    disp = np.asarray(disparity, dtype=np.float64)
    raw = np.clip(np.round(disp * 256.0) + 1.0, 1, 65535).astype(np.uint16)
    raw[~(disp > 0.0)] = 0
    return raw


def _text(path: str | Path, what: str) -> str:
    """``fileio.read_text`` raising LayoutError (one line naming the file)."""
    try:
        return _read_text(path, what)
    except InputFileError as exc:
        raise LayoutError(str(exc)) from None


def read_cityscapes_camera(path: str | Path) -> CameraCalib:
    """Read a Cityscapes ``camera/*.json`` (``extrinsic.baseline``, ``intrinsic.fx/fy/u0/v0``).

    Raises:
        LayoutError: unreadable, a value missing, fx, fy or the baseline not a positive
            finite number, or u0, v0 not finite (one line naming the file and value).
    """
    text = _text(path, "camera file")
    try:
        doc = json.loads(text)
        intr, extr = doc["intrinsic"], doc["extrinsic"]
        calib = CameraCalib(
            fx=float(intr["fx"]),
            fy=float(intr["fy"]),
            u0=float(intr["u0"]),
            v0=float(intr["v0"]),
            baseline=float(extr["baseline"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise LayoutError(f"camera file {path} lacks intrinsic fx/fy/u0/v0 or baseline") from exc
    for name in ("fx", "fy", "baseline"):
        value = getattr(calib, name)
        if not (math.isfinite(value) and value > 0):
            unit = "metres" if name == "baseline" else "pixels"
            raise LayoutError(
                f"camera file {path}: {name} is {value}, expected a positive number of {unit}"
            )
    for name in ("u0", "v0"):
        if not math.isfinite(getattr(calib, name)):
            raise LayoutError(f"camera file {path}: {name} is {getattr(calib, name)}, not finite")
    return calib


def write_cityscapes_camera(path: str | Path, calib: CameraCalib, camera_height: float) -> None:
    """Write a Cityscapes camera JSON for a level rig ``camera_height`` metres above ground."""
    doc = {
        "extrinsic": {
            "baseline": calib.baseline,
            "pitch": 0.0,
            "roll": 0.0,
            "x": 0.0,
            "y": 0.0,
            "yaw": 0.0,
            "z": camera_height,
        },
        "intrinsic": {"fx": calib.fx, "fy": calib.fy, "u0": calib.u0, "v0": calib.v0},
    }
    _write_atomic(Path(path), (json.dumps(doc, indent=4) + "\n").encode())


def write_cityscapes_sample(
    root: str | Path,
    split: str,
    city: str,
    seq: int,
    frame: int,
    *,
    left: np.ndarray,
    right: np.ndarray | None = None,
    disparity: np.ndarray | None = None,
    camera: CameraCalib | None = None,
    camera_height: float = 1.22,
    label_ids: np.ndarray | None = None,
    color: np.ndarray | None = None,
) -> CityscapesSample:
    """Write one frame in the Cityscapes layout; returns the paths as ``cityscapes_samples``."""
    paths = cityscapes_paths(root, split, city, seq, frame)
    write_png(paths["left"], left)
    if right is not None:
        write_png(paths["right"], right)
    if disparity is not None:
        write_png(paths["disparity"], encode_cityscapes_disparity(disparity))
    if camera is not None:
        write_cityscapes_camera(paths["camera"], camera, camera_height)
    if label_ids is not None:
        write_png(paths["label_ids"], np.asarray(label_ids, dtype=np.uint8))
    if color is not None:
        write_png(paths["color"], color)
    return CityscapesSample(
        left=paths["left"],
        right=paths["right"] if right is not None else None,
        disparity=paths["disparity"] if disparity is not None else None,
        camera=paths["camera"] if camera is not None else None,
        label_ids=paths["label_ids"] if label_ids is not None else None,
    )


# ----------------------------------------------------------------------------- KITTI raw


def kitti_raw_drive_dir(root: str | Path, date: str, drive: int) -> Path:
    """``root/{date}/{date}_drive_{drive:04d}_sync``, as KITTI raw unpacks."""
    return Path(root) / date / f"{date}_drive_{drive:04d}_sync"


def read_kitti_calib(path: str | Path) -> dict[str, np.ndarray]:
    """Read a KITTI ``key: v1 v2 ...`` calibration file; non-numeric entries are skipped.

    Returns:
        Flat float64 arrays by key (reshape ``P_rect_02`` to 3x4 yourself).
    """
    text = _text(path, "KITTI calibration")
    calib: dict[str, np.ndarray] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        try:
            calib[key.strip()] = np.array([float(v) for v in value.split()], dtype=np.float64)
        except ValueError:
            continue
    return calib


def check_projection(p: np.ndarray, where: str) -> np.ndarray:
    """``p`` as a 3x4 rectified projection when its numbers can be a camera's.

    Args:
        p: the flat (12,) or (3, 4) matrix read from a calibration file.
        where: the file and key, for the message (e.g. "calib_cam_to_cam.txt: P_rect_02").

    Returns:
        (3, 4) float64.

    Raises:
        LayoutError: not 12 numbers, a NaN or infinite entry, or fx or fy not positive (one
            line naming ``where`` and the value).
    """
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if p.size != 12:
        raise LayoutError(f"{where} has {p.size} numbers, expected 12 (a 3x4 projection)")
    p = p.reshape(3, 4)
    for name, value in (("fx", p[0, 0]), ("fy", p[1, 1])):
        if not (math.isfinite(value) and value > 0):
            raise LayoutError(f"{where} {name} is {value}, expected a positive number of pixels")
    if not np.all(np.isfinite(p)):
        raise LayoutError(f"{where} has non-finite entries: {p.reshape(-1).tolist()}")
    return p


def kitti_projections(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The rectified (3, 4) projections of cameras 02 and 03 of a KITTI calibration file.

    Raises:
        LayoutError: the file cannot be read, lacks ``P_rect_02``/``P_rect_03``, holds a
            projection that cannot be a camera's (``check_projection``), or a pair with no
            positive baseline; one line naming the file.
    """
    from ladderseg_ros.stereo import StereoError, baseline_from_projections

    calib = read_kitti_calib(path)
    missing = [key for key in ("P_rect_02", "P_rect_03") if key not in calib]
    if missing:
        raise LayoutError(f"{path}: no {' or '.join(missing)} (rectified projections)")
    p_left = check_projection(calib["P_rect_02"], f"{path}: P_rect_02")
    p_right = check_projection(calib["P_rect_03"], f"{path}: P_rect_03")
    try:
        baseline_from_projections(p_left, p_right)
    except StereoError as exc:
        raise LayoutError(f"{path}: {exc}") from None
    return p_left, p_right


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6e}" for v in np.asarray(values, dtype=np.float64).reshape(-1))


def write_kitti_calib(
    path: str | Path, p_left: np.ndarray, p_right: np.ndarray, size: tuple[int, int]
) -> None:
    """Write ``calib_cam_to_cam.txt`` in the official text format for rectified cameras.

    Cameras 00/02 get ``p_left`` and 01/03 get ``p_right``; images are already rectified,
    so distortion is zero and rotations are the identity.
    """
    p_left = np.asarray(p_left, dtype=np.float64).reshape(3, 4)
    p_right = np.asarray(p_right, dtype=np.float64).reshape(3, 4)
    lines = ["calib_time: 01-Jan-2020 00:00:00", "corner_dist: 9.950000e-02"]
    for cam in range(4):
        proj = p_left if cam % 2 == 0 else p_right
        k = proj[:, :3]
        t = np.array([proj[0, 3] / proj[0, 0], 0.0, 0.0])
        lines += [
            f"S_{cam:02d}: {_fmt(size)}",
            f"K_{cam:02d}: {_fmt(k)}",
            f"D_{cam:02d}: {_fmt(np.zeros(5))}",
            f"R_{cam:02d}: {_fmt(np.eye(3))}",
            f"T_{cam:02d}: {_fmt(t)}",
            f"S_rect_{cam:02d}: {_fmt(size)}",
            f"R_rect_{cam:02d}: {_fmt(np.eye(3))}",
            f"P_rect_{cam:02d}: {_fmt(proj)}",
        ]
    _write_atomic(Path(path), ("\n".join(lines) + "\n").encode())


def format_kitti_timestamp(seconds: float) -> str:
    """KITTI raw timestamp text (UTC, nanoseconds): ``2011-09-26 13:02:25.964389445``."""
    whole = int(np.floor(seconds))
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    stamp = datetime.fromtimestamp(whole, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp}.{nanos:09d}"


def _kitti_timestamp_parts(text: str) -> tuple[int, int]:
    """The one KITTI timestamp parser: (whole seconds since the epoch UTC, nanoseconds)."""
    text = text.strip()
    head, _, frac = text.partition(".")
    try:
        base = datetime.strptime(head, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        if frac and not (frac.isascii() and frac.isdigit()):
            raise ValueError(frac)
    except ValueError as exc:
        raise LayoutError(f"malformed KITTI timestamp {text!r}") from exc
    return int(base.timestamp()), int((frac + "0" * 9)[:9])


def parse_kitti_timestamp(text: str) -> float:
    """Inverse of ``format_kitti_timestamp``: seconds since the epoch (UTC)."""
    whole, nanos = _kitti_timestamp_parts(text)
    return whole + nanos / 1e9


def parse_kitti_timestamp_ns(text: str) -> int:
    """A KITTI timestamp as exact integer nanoseconds since the epoch (UTC).

    Float seconds would keep only ~0.2 us at 1.3e9 s.
    """
    whole, nanos = _kitti_timestamp_parts(text)
    return whole * 1_000_000_000 + nanos


def write_kitti_raw_frame(
    drive_dir: str | Path, index: int, left: np.ndarray, right: np.ndarray
) -> tuple[Path, Path]:
    """Write one rectified colour pair as ``image_02/data`` and ``image_03/data`` PNGs."""
    drive_dir = Path(drive_dir)
    name = f"{index:010d}.png"
    paths = (drive_dir / "image_02" / "data" / name, drive_dir / "image_03" / "data" / name)
    write_png(paths[0], left)
    write_png(paths[1], right)
    return paths


def write_kitti_timestamps(drive_dir: str | Path, timestamps: Iterable[float]) -> None:
    """Write ``image_02/timestamps.txt`` and ``image_03/timestamps.txt`` (one line a frame)."""
    text = "".join(format_kitti_timestamp(t) + "\n" for t in timestamps).encode()
    for cam in ("image_02", "image_03"):
        _write_atomic(Path(drive_dir) / cam / "timestamps.txt", text)


def read_kitti_raw_drive(drive_dir: str | Path) -> KittiRawDrive:
    """Read a KITTI raw drive directory (``calib_cam_to_cam.txt`` one level up).

    Raises:
        LayoutError: Images, timestamps or calibration are missing or inconsistent.
    """
    drive_dir = Path(drive_dir)
    left = sorted((drive_dir / "image_02" / "data").glob("*.png"))
    right = sorted((drive_dir / "image_03" / "data").glob("*.png"))
    if not left:
        raise LayoutError(f"no images under {drive_dir / 'image_02' / 'data'}")
    if [p.name for p in left] != [p.name for p in right]:
        raise LayoutError(f"{drive_dir}: image_02 and image_03 hold different frames")
    stamp_file = drive_dir / "image_02" / "timestamps.txt"
    stamps_ns, stamps = [], []
    for number, line in enumerate(_text(stamp_file, "KITTI timestamps").splitlines(), 1):
        if not line.strip():
            continue
        try:
            stamps_ns.append(parse_kitti_timestamp_ns(line))
            stamps.append(parse_kitti_timestamp(line))
        except LayoutError as exc:
            raise LayoutError(f"{stamp_file}:{number}: {exc}") from None
    if len(stamps) != len(left):
        raise LayoutError(f"{stamp_file}: {len(stamps)} timestamps for {len(left)} images")
    p_left, p_right = kitti_projections(drive_dir.parent / KITTI_CALIB_NAME)
    return KittiRawDrive(
        left=left,
        right=right,
        timestamps=stamps,
        p_left=p_left,
        p_right=p_right,
        timestamps_ns=stamps_ns,
    )
