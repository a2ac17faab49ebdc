"""Pictures of segmented frames: one row per frame (left | disparity | segmentation | truth).

Used by ``segment-bag --video/--frames`` and by the demo. Frames are composed in RGB at the
left image's size, each panel captioned; a contact sheet stacks a few rows, a video writes
one row per frame. Video is MPEG-4 Part 2 (fourcc ``mp4v``): the codec that
opencv-python-headless's bundled FFmpeg can encode (its H.264 wheels have no encoder).
PNG and video files go through ``fileio.atomic_output`` (a temporary name, published by a
link that fails if the target appeared meanwhile: no check-then-rename race); a frame
directory is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from ladderseg_ros.classes import LabelSet, colorize, palette_lut
from ladderseg_ros.data.synthetic import StereoRig, render_frame
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import (
    OutputExistsError,
    atomic_output,
    atomic_output_dir,
    refuse_existing,
)

_LOG = logging.getLogger(__name__)
VIDEO_FOURCC = "mp4v"
#: Largest side of a video frame or a contact sheet; larger rows are scaled down to it. The
#: mp4v encoder refuses 8192 and more (a 4-panel row of a 2048-wide camera), and 4096 is what
#: common players decode.
MAX_PICTURE_SIDE = 4096
PANEL_TITLES = ("left", "disparity", "segmentation", "ground truth")
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class VisualizeError(LadderSegError):
    """A picture or video cannot be composed or written; the message names the path."""


def fitted_size(width: int, height: int, limit: int = MAX_PICTURE_SIDE) -> tuple[int, int]:
    """(width, height) scaled down so that neither side exceeds ``limit``, both even.

    Even sides because MPEG-4 encodes 2x2 chroma blocks; a size within the limit only loses
    an odd last pixel.
    """
    scale = min(1.0, limit / max(width, height))
    return tuple(max(2, int(side * scale) // 2 * 2) for side in (width, height))  # type: ignore[return-value]


def fit_picture(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` resized (area averaging) to ``size`` = (width, height), or as is if it has it."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[Path]:
    """``atomic_output`` with the target's suffix (OpenCV picks the format by it).

    An existing target is a ``VisualizeError``.
    """
    try:
        with atomic_output(path, suffix=path.suffix) as tmp:
            yield tmp
    except OutputExistsError as exc:
        raise VisualizeError(str(exc)) from None


def colorize_disparity(disparity: np.ndarray, max_disparity: float | None = None) -> np.ndarray:
    """Disparity (0 = invalid) as an RGB heat map (near = warm); invalid pixels black."""
    disp = np.asarray(disparity, dtype=np.float32)
    valid = np.isfinite(disp) & (disp > 0)
    top = max_disparity if max_disparity else (float(disp[valid].max()) if valid.any() else 1.0)
    scaled = np.clip(np.where(valid, disp, 0.0) / max(top, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb


def _caption(panel: np.ndarray, text: str) -> np.ndarray:
    scale = max(0.35, panel.shape[0] / 400.0)
    thickness = 1 if scale < 0.8 else 2
    (w, h), base = cv2.getTextSize(text, _FONT, scale, thickness)
    out = panel.copy()
    cv2.rectangle(out, (0, 0), (w + 6, h + base + 6), (0, 0, 0), -1)
    cv2.putText(out, text, (3, h + 3), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def compose_row(
    left: np.ndarray,
    labels: np.ndarray,
    label_set: LabelSet,
    disparity: np.ndarray | None = None,
    ground_truth: np.ndarray | None = None,
    max_disparity: float | None = None,
    disparity_title: str = PANEL_TITLES[1],
) -> np.ndarray:
    """One frame's row: left | disparity | segmentation | ground truth (absent = grey).

    ``disparity_title`` captions the disparity panel (e.g. where it came from).

    Raises:
        VisualizeError: A panel's size differs from the left image's.
    """
    height, width = left.shape[:2]
    lut = palette_lut(label_set)
    grey = np.full((height, width, 3), 64, dtype=np.uint8)
    panels = [
        np.ascontiguousarray(left),
        colorize_disparity(disparity, max_disparity) if disparity is not None else grey,
        lut[labels],
        lut[ground_truth] if ground_truth is not None else grey,
    ]
    for title, panel in zip(PANEL_TITLES, panels, strict=True):
        if panel.shape != (height, width, 3):
            raise VisualizeError(
                f"{title} panel is {panel.shape[:2]}, left image {(height, width)}"
            )
    titles = (PANEL_TITLES[0], disparity_title, *PANEL_TITLES[2:])
    return np.hstack([_caption(p, t) for p, t in zip(panels, titles, strict=True)])


def contact_sheet(
    rows: Sequence[np.ndarray], max_rows: int = 6, max_width: int = MAX_PICTURE_SIDE
) -> np.ndarray:
    """Up to ``max_rows`` rows spread evenly over ``rows``, stacked with a thin gap.

    Rows wider than ``max_width`` are scaled down to it (a 4-panel row of a 4096-wide
    camera is 16384 wide).
    """
    if not rows:
        raise VisualizeError("no frames to put on a contact sheet")
    picks = np.unique(np.linspace(0, len(rows) - 1, min(max_rows, len(rows))).round().astype(int))
    height, width = rows[0].shape[:2]
    size = fitted_size(width, height, max_width) if width > max_width else (width, height)
    gap = np.full((4, size[0], 3), 255, dtype=np.uint8)
    stacked: list[np.ndarray] = []
    for i in picks:
        stacked += [fit_picture(rows[i], size), gap]
    return np.vstack(stacked[:-1])


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG atomically; refuses to overwrite."""
    path = Path(path)
    with _atomic_file(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise VisualizeError(f"cannot write {path}")
    return path


class VideoWriter:
    """An mp4 written atomically, frame by frame (RGB rows of one size); a context manager.

    Frames larger than ``MAX_PICTURE_SIDE`` on a side are scaled down to it (one log line),
    and odd sides rounded down to even: the codec refuses what it cannot encode.

    Raises:
        VisualizeError: ``path`` exists, the codec cannot open, or a frame changes size.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        refuse_existing(self.path, VisualizeError)
        if not fps > 0:
            raise VisualizeError(f"video {self.path}: fps must be > 0, got {fps}")
        self.fps = fps
        self.frames = 0
        self._output = contextlib.ExitStack()
        self._tmp: Path | None = None
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._video_size: tuple[int, int] = (0, 0)
        self._discarded = False

    def __enter__(self) -> VideoWriter:
        if not self.path.parent.is_dir():
            raise VisualizeError(f"cannot write {self.path}: {self.path.parent} is no directory")
        self._tmp = self._output.enter_context(_atomic_file(self.path))
        return self

    def write(self, rgb: np.ndarray) -> None:
        """Appends one RGB frame (uint8, H x W x 3, the size of the first frame)."""
        size = (rgb.shape[1], rgb.shape[0])
        if self._writer is None:
            self._size = size
            self._video_size = fitted_size(*size)
            if max(size) > MAX_PICTURE_SIDE:
                _LOG.info(
                    "video %s: frames of %dx%d scaled to %dx%d (at most %d a side)",
                    self.path,
                    *size,
                    *self._video_size,
                    MAX_PICTURE_SIDE,
                )
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_FOURCC)
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self._video_size)
            if not self._writer.isOpened():
                raise VisualizeError(
                    f"cannot open a {VIDEO_FOURCC} video writer of {self._video_size[0]}x"
                    f"{self._video_size[1]} for {self.path}"
                )
        elif size != self._size:
            raise VisualizeError(f"video {self.path}: frame {size} after frames of {self._size}")
        frame = fit_picture(rgb, self._video_size)
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def discard(self, reason: BaseException) -> None:
        """Gives the video up: its temporary file is deleted and ``path`` never appears.

        For a caller that goes on without it; leaving the ``with`` block is then a no-op.
        """
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._discarded = True
        self._output.__exit__(type(reason), reason, None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if self._discarded:
            return
        if self._writer is not None:
            self._writer.release()
        if exc_type is None and self.frames == 0:
            error = VisualizeError(f"no frames to write to {self.path}")
            self._output.__exit__(VisualizeError, error, None)  # deletes the temporary file
            raise error
        # publishes the file on success; on an exception deletes it (the exception goes on)
        self._output.__exit__(exc_type, exc, tb)  # type: ignore[arg-type]


class FrameDirWriter:
    """Numbered PNG rows in a new directory, built under a temporary name; a context manager.

    Raises:
        VisualizeError: ``path`` exists and is not an empty directory (checked on creation
            and again when publishing), or the folder cannot be created.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.frames = 0
        self._output = atomic_output_dir(self.path, error=VisualizeError)
        self._tmp: Path | None = None

    def __enter__(self) -> FrameDirWriter:
        try:
            self._tmp = self._output.__enter__()
        except OSError as exc:
            raise VisualizeError(f"cannot create {self.path}: {exc}") from exc
        return self

    def write(self, rgb: np.ndarray, name: str | None = None) -> None:
        """Writes one RGB image as ``{name}.png`` (default: the running frame number)."""
        if self._tmp is None:
            raise VisualizeError(f"{self.path} is not open for writing")
        write_png(self._tmp / f"{name or f'{self.frames:06d}'}.png", rgb)
        self.frames += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        # publishes the folder on success; on an exception deletes it (the exception goes on)
        self._output.__exit__(exc_type, exc, tb)  # type: ignore[arg-type]


def synthetic_preview(rig: StereoRig, seeds: range, tile_width: int = 480) -> np.ndarray:
    """A contact sheet of the synthetic world: a row per seed of left, right, disparity, labels.

    Args:
        rig: the stereo rig to render with.
        seeds: one street per seed (``render_frame``).
        tile_width: width of each of the four tiles, in pixels.

    Returns:
        The sheet, RGB uint8, (rows * tile height, 4 * tile_width, 3); disparity as a heat
        map scaled to its 99th percentile, black where invalid.
    """
    size = (tile_width, max(1, round(tile_width * rig.height / rig.width)))
    rows = []
    for seed in seeds:
        frame = render_frame(seed, rig)
        valid = frame.disparity > 0
        top = float(np.percentile(frame.disparity[valid], 99)) if valid.any() else 1.0
        tiles = [frame.left, frame.right, colorize_disparity(frame.disparity, max(top, 1e-6))]
        tiles.append(colorize(frame.train_ids))
        rows.append(
            np.concatenate([cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles], 1)
        )
    return np.concatenate(rows, 0)
