"""The per-frame path from synchronized messages to output messages, free of rclpy.

``MessagePipeline`` decodes a synchronized set into a ``StereoFrame`` (``io.messages``),
runs the ``FrameProcessor`` on it and encodes the outputs as messages of the library it was
given (rclpy's for the node, rosbags' for ``segment-bag``): the live node and the offline
tool drive this one object, so their outputs are equal by construction. Sets that come
before both CameraInfos are held by its ``CalibrationGate`` (bounded).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ladderseg_ros.frames.frame import FrameGeometry, FrameNote, FrameResult, StereoFrame, Wanted
from ladderseg_ros.frames.processor import FrameProcessor
from ladderseg_ros.io import messages
from ladderseg_ros.io.messages import (
    BadMessageError,
    CameraInfoMessage,
    MessageTypes,
    camera_image_to_rgb,
)

T = TypeVar("T")

MODES = ("mono", "compute", "topic")
# output name -> (message type, image encoding); outputs are published as each is made
# (``FrameProcessor.process``)
OUTPUTS: dict[str, tuple[str, str]] = {
    "labels": (messages.IMAGE, "mono8"),
    "color": (messages.IMAGE, "rgb8"),
    "overlay": (messages.IMAGE, "rgb8"),
    "confidence": (messages.IMAGE, "32FC1"),
    "groups": (messages.IMAGE, "mono8"),
    "points": (messages.POINT_CLOUD, ""),
    "disparity": (messages.DISPARITY_IMAGE, ""),
}


class CalibrationGate(Generic[T]):
    """The latest left/right CameraInfo, and the sets that came before both.

    Up to ``capacity`` items wait (oldest first) for calibration; a recording or a driver
    whose infos start after its images loses none of its first ``capacity`` frames.
    Thread-safe. ``infos`` is one dict for the gate's life (readers may keep a reference).

    Raises:
        ValueError: ``capacity`` < 1.
    """

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._lock = threading.Lock()
        self.capacity = capacity
        self.infos: dict[str, CameraInfoMessage] = {}
        self.waiting: deque[T] = deque()

    @property
    def pending(self) -> T | None:
        """The newest item waiting for calibration."""
        with self._lock:
            return self.waiting[-1] if self.waiting else None

    def missing(self) -> list[str]:
        """The sides whose CameraInfo has not come yet."""
        with self._lock:
            return sorted({"left", "right"} - set(self.infos))

    def add_info(self, side: str, info: CameraInfoMessage) -> list[T]:
        """Store ``info`` (side ``left``/``right``).

        Returns:
            The held items (oldest first) once both infos exist, else [].
        """
        with self._lock:
            self.infos[side] = info
            released: list[T] = []
            if self.waiting and len(self.infos) == 2:
                released, self.waiting = list(self.waiting), deque()
            return released

    def hold(self, item: T) -> tuple[bool, T | None, list[str]]:
        """Hold ``item`` when a CameraInfo is missing.

        Returns:
            (held, the oldest held item pushed out by it, the missing sides);
            (False, None, []) when calibrated.
        """
        with self._lock:
            if len(self.infos) == 2:
                return False, None, []
            self.waiting.append(item)
            replaced = self.waiting.popleft() if len(self.waiting) > self.capacity else None
            return True, replaced, sorted({"left", "right"} - set(self.infos))

    def pair(self) -> tuple[CameraInfoMessage | None, CameraInfoMessage | None]:
        """The latest (left, right) CameraInfo, None where none came."""
        with self._lock:
            return self.infos.get("left"), self.infos.get("right")


@dataclass
class FrameMessages:
    """One frame's result and its output messages by output name (``OUTPUTS``' order)."""

    result: FrameResult
    messages: dict[str, Any]


class MessagePipeline:
    """The node's and ``segment-bag``'s per-frame path: messages -> frame -> messages.

    Args:
        processor: The frame processor (shared, settings changeable between frames).
        mode: ``mono`` (left image), ``compute`` (left, right images; SGBM) or ``topic``
            (left image, DisparityImage).
        topics: The synchronized input topics (named in errors), in the order of the sets.
        types: Builds the output messages (``ros.conversions.RCLPY``, ``io.bags.ROSBAGS``).
        calibration_backlog: Sets held while a CameraInfo is missing (compute mode).

    Input sets may hold Image or CompressedImage messages, from rclpy or rosbags. Compute
    mode calibrates from the gate's CameraInfos; topic mode scales the received disparity's
    f, range and step to the left image and keeps its pixels at their own size (sampled at
    the network's size when only the network reads them); the left CameraInfo,
    when one of the image's size came, gives the cloud its projection and, in mono mode,
    the focal length that sets the network's scale.

    Raises:
        ValueError: An unknown ``mode``.
    """

    def __init__(
        self,
        processor: FrameProcessor,
        mode: str,
        topics: Sequence[str],
        types: MessageTypes,
        calibration_backlog: int = 1,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {MODES}")
        self.processor = processor
        self.mode = mode
        self.topics = list(topics)
        self.types = types
        self.gate: CalibrationGate[tuple[tuple[Any, ...], Any]] = CalibrationGate(
            calibration_backlog
        )

    def hold(self, msgs: tuple[Any, ...], received: object) -> tuple[bool, FrameNote | None]:
        """Hold a compute-mode set (with its receive time) until both CameraInfos came.

        Returns:
            (held, a note when an older held set was pushed out and is lost).
        """
        if self.mode != "compute":
            return False, None
        held, replaced, missing = self.gate.hold((msgs, received))
        note = None
        if replaced is not None:
            note = FrameNote(
                "missing_camera_info",
                f"pair at {messages.header_seconds(replaced[0][0]):.3f} skipped: no "
                f"{' or '.join(s + '/camera_info' for s in missing)} received yet and "
                f"{self.gate.capacity} newer pairs wait (calibration_backlog)",
            )
        return held, note

    def frame(
        self, msgs: Sequence[Any], max_pixels: int, wanted: Wanted | None = None
    ) -> tuple[StereoFrame, list[FrameNote]]:
        """Decode a synchronized set into a ``StereoFrame`` (and what decoding noticed).

        A received disparity that only the network reads (``wanted`` asks for neither the
        ``disparity`` nor the ``points`` output) is sampled at the network's size first:
        only the pixels the network reads are copied and checked.

        Raises:
            BadMessageError: A message cannot be used (its ``kind`` is for counting).
        """
        left = camera_image_to_rgb(msgs[0], self.topics[0], max_pixels)
        height, width = left.shape[:2]
        header = msgs[0].header
        stamp, frame_id = messages.header_ns(msgs[0]), str(header.frame_id)
        left_info, right_info = self.gate.pair()
        projection, missing = messages.left_projection(left_info, width, height)
        if self.mode == "compute":
            right = camera_image_to_rgb(msgs[1], self.topics[1], max_pixels)
            if right.shape != left.shape:
                raise BadMessageError(
                    "size_mismatch",
                    f"left image {width}x{height} and right image "
                    f"{right.shape[1]}x{right.shape[0]} differ",
                )
            geometry = messages.stereo_geometry(left_info, right_info, width, height)
            geometry = dataclasses.replace(geometry, focal_source="left/camera_info")
            return StereoFrame(left, right, geometry=geometry, stamp=stamp, frame_id=frame_id), []
        if self.mode == "mono":
            # a usable projection has the focal length (left_focal would check P again);
            # left_focal says why there is none, or falls back to K
            focal = (
                projection[0]
                if projection is not None
                else messages.left_focal(left_info, width, height)
            )
            geometry = FrameGeometry(
                focal,
                projection=projection,
                projection_missing=missing,
                focal_source="left/camera_info",
            )
            return StereoFrame(left, geometry=geometry, stamp=stamp, frame_id=frame_id), []
        topic = self.topics[1]
        sample = None
        if wanted is not None and not (wanted.disparity or wanted.points):
            sample = self._network_sample(msgs[1], width, height)
        received = messages.disparity_from_msg(msgs[1], topic, max_pixels, sample, (width, height))
        # f and range in the left's pixels (a sampled map has the network's aspect)
        received = received.on_image(width, height, topic, aspect_checked=sample is not None)
        notes = []
        if received.nonfinite:
            notes.append(
                FrameNote(
                    "nonfinite_disparity",
                    f"{topic}: {received.nonfinite} NaN/inf pixels treated as invalid",
                )
            )
        geometry = FrameGeometry(
            received.focal,
            received.baseline,
            projection=projection,
            projection_missing=missing,
            focal_source=f"{topic} f",
        )
        frame = StereoFrame(
            left,
            disparity=received.disparity,
            geometry=geometry,
            min_disparity=received.min_disparity,
            max_disparity=received.max_disparity,
            delta_d=received.delta_d,
            stamp=stamp,
            frame_id=frame_id,
        )
        return frame, notes

    def _network_sample(self, msg: Any, width: int, height: int) -> tuple[int, int] | None:  # noqa: ANN401
        """The size the network runs at for this left image and the disparity's f."""
        map_width = int(msg.image.width)
        f = float(msg.f)
        if map_width <= 0 or not (math.isfinite(f) and f > 0):
            return None  # disparity_from_msg says what is wrong
        if map_width > width:  # resized to the left image first, whoever listens
            return None
        return self.processor.segmenter.network_size(width, height, f * width / map_width)

    def run(
        self,
        msgs: Sequence[Any],
        wanted: Wanted,
        max_pixels: int,
        encode: Collection[str] | None = None,
        publish: Callable[[str, Any], None] | None = None,
    ) -> FrameMessages:
        """Decode, process and encode one synchronized set.

        ``encode`` limits the output messages built (None: every output computed).
        ``publish(name, message)``, when given, gets each output message as soon as its
        output is made (``FrameProcessor.process``), while the next is computed; the
        returned messages are the same objects, in that order.

        Raises:
            BadMessageError: A message cannot be used (its ``kind`` is for counting).
        """
        frame, notes = self.frame(msgs, max_pixels, wanted)
        encoded: dict[str, Any] = {}
        header = messages.header_msg(self.types, frame.stamp, frame.frame_id)

        def ready(result: FrameResult, key: str) -> None:
            if encode is not None and key not in encode:
                return
            msg = self.encode_one(result, key, header)
            if msg is not None:
                encoded[key] = msg
                if publish is not None:
                    publish(key, msg)

        result = self.processor.process(frame, wanted, ready)
        result.notes[:0] = notes
        return FrameMessages(result, encoded)

    def encode_one(self, result: FrameResult, key: str, header: Any) -> Any:  # noqa: ANN401
        """The message of output ``key`` of ``result``, stamped with ``header``.

        None when the output was not made, or for a disparity without focal length and
        baseline (no DisparityImage can say what it means).
        """
        types = self.types
        msgtype, encoding = OUTPUTS[key]
        value = getattr(result.outputs, key)
        if value is None:
            return None
        if msgtype == messages.IMAGE:
            return messages.image_msg(types, value, encoding, header)
        if key == "points":
            return messages.pointcloud_msg(types, value, header)
        if not result.disparity_complete:
            return None
        assert result.focal
        assert result.baseline
        return messages.disparity_msg(
            types,
            value,
            result.focal,
            result.baseline,
            header,
            delta_d=result.delta_d,
            min_disparity=result.min_disparity,
            max_disparity=result.max_disparity,
        )
