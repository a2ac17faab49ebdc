"""Stereo rosbag2 files written and read with ``rosbags`` alone: no ROS installation needed.

The topic names and frame ids below are the package's conventions: the node, the demo and
``segment-bag`` import them from here. Bags are written in rosbag2 metadata version 8 (the
newest that ``rosbags`` writes which Humble's ``ros2 bag play`` still parses: version 9 changed
the QoS layout) with an explicit QoS profile per topic, because Humble's player cannot read an
empty one. Messages use the Jazzy type store; the CDR bytes of these types are the same on
Humble. A bag is written into a hidden temporary directory beside its final name and renamed
when complete, so a half-written bag never looks like a finished one.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.fileio import refuse_existing
from ladderseg_ros.io import messages

if TYPE_CHECKING:
    from rosbags.interfaces import Connection
    from rosbags.rosbag2 import Reader, Writer
    from rosbags.typesys.store import Typestore

LOG = logging.getLogger(__name__)

TOPIC_LEFT_IMAGE = "/stereo/left/image_rect"
TOPIC_RIGHT_IMAGE = "/stereo/right/image_rect"
TOPIC_LEFT_INFO = "/stereo/left/camera_info"
TOPIC_RIGHT_INFO = "/stereo/right/camera_info"
TOPIC_DISPARITY = "/stereo/disparity"
TOPIC_SEMANTIC_GT = "/stereo/left/semantic_gt"
LEFT_FRAME_ID = "left_camera_optical_frame"
RIGHT_FRAME_ID = "right_camera_optical_frame"

IMAGE_TYPE = messages.IMAGE
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = messages.CAMERA_INFO
DISPARITY_TYPE = messages.DISPARITY_IMAGE
POINT_CLOUD_TYPE = messages.POINT_CLOUD

# the step of Cityscapes' and KITTI's disparity PNGs (uint16, d = p / 256)
DATASET_DELTA_D = 1.0 / 256.0

BAG_VERSION = 8
STORAGES: tuple[str, ...] = ("sqlite3", "mcap")


class BagError(LadderSegError):
    """A bag cannot be written or read; the message names the path (and topic)."""


@cache
def typestore() -> Typestore:
    """The ROS 2 Jazzy type store (Image, CameraInfo, DisparityImage serialize as on Humble)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def stored_types(connection: Connection) -> dict[str, Any]:
    """The message types a bag stores the definition of for ``connection`` (rosbags' parse).

    Bags recorded by ROS 2 Iron or newer keep each topic's definition (``.msg`` text with
    its dependencies, or IDL), so a custom message type decodes without its package; read
    as rosbags' ``AnyReader`` reads them.

    Raises:
        Exception: whatever rosbags' parsers raise for a definition they cannot read.
    """
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import get_types_from_idl, get_types_from_msg

    definition = connection.msgdef
    if definition.format == MessageDefinitionFormat.NONE or not definition.data.strip():
        return {}
    if definition.format == MessageDefinitionFormat.MSG:
        return dict(get_types_from_msg(definition.data, connection.msgtype))
    separator = "=" * 80 + "\n"
    types: dict[str, Any] = {}
    if definition.data.startswith(f"{separator}IDL: "):
        for section in definition.data.split(separator)[1:]:
            types.update(get_types_from_idl(section.split("\n", 1)[1]))
    else:
        types.update(get_types_from_idl(definition.data))
    return types


def bag_typestore(path: Path, connections: Iterable[Connection]) -> Typestore:
    """The Jazzy type store plus the types ``connections`` store definitions of.

    A type the Jazzy store knows keeps the Jazzy definition (the one the package's decoders
    are written for); a definition that cannot be parsed is skipped with one warning, and
    its topic stays undecodable (``BagReader.deserialize`` says so).
    """
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)  # a new store: the bag's types stay its own
    new: dict[str, Any] = {}
    for connection in connections:
        if connection.msgtype in store.fielddefs or connection.msgtype in new:
            continue
        try:
            types = stored_types(connection)
        except Exception as exc:  # rosbags' msg and IDL parsers raise many kinds
            from ladderseg_ros.fileio import one_line

            LOG.warning(
                "%s: the definition of %s (topic %s) cannot be read: %s",
                path,
                connection.msgtype,
                connection.topic,
                one_line(exc),
            )
            continue
        new.update({k: v for k, v in types.items() if k not in store.fielddefs})
    if new:
        try:
            store.register(new)
        except Exception as exc:
            from ladderseg_ros.fileio import one_line

            LOG.warning("%s: its stored message definitions conflict: %s", path, one_line(exc))
    return store


def stamp_ns(seconds: float) -> int:
    """Seconds (float) to integer nanoseconds, rounded (float seconds lose nanoseconds)."""
    return round(seconds * 1e9)


def stereo_projections(
    fx: float, fy: float, cx: float, cy: float, baseline: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rectified stereo projection matrices (3x4): left Tx = 0, right Tx = -fx * baseline."""
    p_left = np.array([[fx, 0.0, cx, 0.0], [0.0, fy, cy, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = p_left.copy()
    p_right[0, 3] = -fx * baseline
    return p_left, p_right


class RosbagsTypes:
    """``io.messages.MessageTypes`` of the rosbags type store (Jazzy; CDR as on Humble)."""

    def new(self, msgtype: str, **fields: Any) -> Any:  # noqa: ANN401 - a message of msgtype
        """A rosbags message of ``msgtype`` (every field given)."""
        return typestore().types[msgtype](**fields)

    def sequence(self, values: np.ndarray) -> np.ndarray:
        """Rosbags keeps unbounded array fields as numpy arrays."""
        return values


ROSBAGS = RosbagsTypes()


def image_msg(array: np.ndarray, encoding: str, stamp: int, frame_id: str) -> messages.ImageMessage:
    """A ``sensor_msgs/Image`` holding ``array`` (``io.messages.image_msg``'s encodings).

    Raises:
        BagError: The array's shape or dtype does not fit the encoding.
    """
    try:
        return messages.image_msg(
            ROSBAGS, array, encoding, messages.header_msg(ROSBAGS, stamp, frame_id)
        )
    except messages.EncodingError as exc:
        raise BagError(str(exc)) from exc


def image_array(msg: messages.ImageMessage, topic: str = "image") -> np.ndarray:
    """The pixels of a ``sensor_msgs/Image`` as a contiguous (H, W[, C]) array.

    Raises:
        BagError: Unsupported encoding, or the buffer does not match width, height and step.
    """
    try:
        return np.ascontiguousarray(messages.image_view(msg, topic))
    except messages.BadMessageError as exc:
        raise BagError(str(exc)) from exc


def camera_info_msg(
    projection: np.ndarray, width: int, height: int, stamp: int, frame_id: str
) -> messages.CameraInfoMessage:
    """A ``sensor_msgs/CameraInfo`` of a rectified camera (``io.messages.camera_info_msg``).

    Raises:
        BagError: The projection has non-finite entries or fx, fy <= 0.
    """
    header = messages.header_msg(ROSBAGS, stamp, frame_id)
    try:
        return messages.camera_info_msg(ROSBAGS, projection, width, height, header)
    except messages.EncodingError as exc:
        raise BagError(str(exc)) from exc


def disparity_msg(
    disparity: np.ndarray,
    focal: float,
    baseline: float,
    stamp: int,
    frame_id: str = LEFT_FRAME_ID,
    max_disparity: float | None = None,
    min_disparity: float = 0.0,
    *,
    delta_d: float,
) -> messages.DisparityImageMessage:
    """A ``stereo_msgs/DisparityImage`` from pixels with 0 = invalid.

    ``io.messages``' rules: invalid pixels written below ``min_disparity``; ``delta_d`` is
    the values' step.

    Raises:
        BagError: ``disparity`` is not (H, W).
    """
    header = messages.header_msg(ROSBAGS, stamp, frame_id)
    try:
        return messages.disparity_msg(
            ROSBAGS,
            disparity,
            focal,
            baseline,
            header,
            delta_d=delta_d,
            min_disparity=min_disparity,
            max_disparity=max_disparity,
        )
    except messages.EncodingError as exc:
        raise BagError(str(exc)) from exc


def pointcloud_msg(
    points: np.ndarray, stamp: int, frame_id: str = LEFT_FRAME_ID
) -> messages.PointCloudMessage:
    """A ``sensor_msgs/PointCloud2`` of a 2-D ``points.POINT_DTYPE`` array.

    Raises:
        BagError: ``points`` is not a 2-D ``POINT_DTYPE`` array.
    """
    header = messages.header_msg(ROSBAGS, stamp, frame_id)
    try:
        return messages.pointcloud_msg(ROSBAGS, points, header)
    except messages.EncodingError as exc:
        raise BagError(str(exc)) from exc


def pointcloud_array(msg: messages.PointCloudMessage, topic: str = "points") -> np.ndarray:
    """A PointCloud2 with this package's fields as a (height, width) POINT_DTYPE array.

    Fields are read by name (``messages.pointcloud_array``): older bags' uint8 labels too.

    Raises:
        BagError: A field is missing, of another type or out of place, or the sizes differ.
    """
    try:
        return messages.pointcloud_array(msg, topic)
    except messages.BadMessageError as exc:
        raise BagError(str(exc)) from exc


def disparity_array(
    msg: messages.DisparityImageMessage, topic: str = TOPIC_DISPARITY
) -> np.ndarray:
    """Disparity pixels of a DisparityImage, float32 with 0 = invalid (``io.messages``' rule).

    Raises:
        BagError: The message cannot be used (encoding, buffer, f or T).
    """
    try:
        return messages.disparity_from_msg(msg, topic).disparity
    except messages.BadMessageError as exc:
        raise BagError(str(exc)) from exc


@dataclass(frozen=True)
class StereoBagFrame:
    """Everything one stereo frame puts in a bag; every message carries ``stamp`` (ns).

    ``left``/``right`` are (H,W,3) uint8 RGB, ``p_left``/``p_right`` the rectified 3x4
    projections (baseline in the right Tx; the right CameraInfo is written whenever
    ``p_right`` is given, even without a right image), ``disparity`` float32 pixels
    (0 = invalid) and ``semantic_gt`` uint8 trainIds (255 = ignore), both at the left
    image's size. ``delta_d`` is the disparity's step (px): 1/256 for the uint16/256
    disparity PNGs of Cityscapes and KITTI (the renderer's exact disparity is finer).
    """

    stamp: int
    left: np.ndarray
    p_left: np.ndarray
    right: np.ndarray | None = None
    p_right: np.ndarray | None = None
    disparity: np.ndarray | None = None
    semantic_gt: np.ndarray | None = None
    delta_d: float = DATASET_DELTA_D

    def messages(self) -> list[tuple[str, str, Any]]:
        """(topic, msgtype, message) of this frame, in the order the node wants them."""
        height, width = self.left.shape[:2]
        out: list[tuple[str, str, Any]] = [
            (
                TOPIC_LEFT_INFO,
                CAMERA_INFO_TYPE,
                camera_info_msg(self.p_left, width, height, self.stamp, LEFT_FRAME_ID),
            ),
        ]
        if self.right is not None:
            if self.p_right is None:
                raise BagError("a right image needs its projection p_right")
            rh, rw = self.right.shape[:2]
            if (rh, rw) != (height, width):
                raise BagError(f"right image is {rw}x{rh}, left is {width}x{height}")
        if self.p_right is not None:
            out.append(
                (
                    TOPIC_RIGHT_INFO,
                    CAMERA_INFO_TYPE,
                    camera_info_msg(self.p_right, width, height, self.stamp, RIGHT_FRAME_ID),
                )
            )
        out.append(
            (TOPIC_LEFT_IMAGE, IMAGE_TYPE, image_msg(self.left, "rgb8", self.stamp, LEFT_FRAME_ID))
        )
        if self.right is not None:
            out.append(
                (
                    TOPIC_RIGHT_IMAGE,
                    IMAGE_TYPE,
                    image_msg(self.right, "rgb8", self.stamp, RIGHT_FRAME_ID),
                )
            )
        if self.disparity is not None:
            out.append((TOPIC_DISPARITY, DISPARITY_TYPE, self._disparity_msg()))
        if self.semantic_gt is not None:
            gt = np.asarray(self.semantic_gt)
            if gt.shape != (height, width):
                raise BagError(f"semantic_gt has shape {gt.shape}, left image is {(height, width)}")
            out.append(
                (TOPIC_SEMANTIC_GT, IMAGE_TYPE, image_msg(gt, "mono8", self.stamp, LEFT_FRAME_ID))
            )
        return out

    def _disparity_msg(self) -> messages.DisparityImageMessage:
        disp = np.asarray(self.disparity)
        if disp.shape != self.left.shape[:2]:
            raise BagError(f"disparity has shape {disp.shape}, left image is {self.left.shape[:2]}")
        if self.p_right is None:
            raise BagError("a disparity image needs p_right for its baseline")
        from ladderseg_ros.stereo import baseline_from_projections

        p_left = np.asarray(self.p_left, dtype=np.float64).reshape(3, 4)
        p_right = np.asarray(self.p_right, dtype=np.float64).reshape(3, 4)
        baseline = baseline_from_projections(p_left, p_right)
        return disparity_msg(
            disp, p_left[0, 0], baseline, self.stamp, LEFT_FRAME_ID, delta_d=self.delta_d
        )


def _default_qos() -> list[Any]:
    """One reliable, volatile, keep-last-10 profile (what ``ros2 bag record`` offers)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    zero = QosTime(0, 0)
    return [
        Qos(
            history=QosHistory.KEEP_LAST,
            depth=10,
            reliability=QosReliability.RELIABLE,
            durability=QosDurability.VOLATILE,
            deadline=zero,
            lifespan=zero,
            liveliness=QosLiveliness.AUTOMATIC,
            liveliness_lease_duration=zero,
            avoid_ros_namespace_conventions=False,
        )
    ]


class BagWriter:
    """Writes a new rosbag2 (version 8) atomically; use as a context manager.

    The bag is built in ``.{name}.partial-*`` beside ``path`` and renamed to ``path`` only on
    a clean exit; on an exception (or Ctrl-C) the partial directory is removed.

    Raises:
        BagError: ``path`` exists (never overwritten), unknown storage, or a write fails.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3") -> None:
        if storage not in STORAGES:
            raise BagError(f"storage {storage!r} not supported; use one of {list(STORAGES)}")
        self.path = Path(path)
        self.storage = storage
        refuse_existing(self.path, BagError)
        self._tmpdir: Path | None = None
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}
        self.message_count = 0

    def __enter__(self) -> BagWriter:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        parent = self.path.parent
        if not parent.is_dir():
            raise BagError(f"cannot write {self.path}: {parent} is not a directory")
        self._tmpdir = parent / f".{self.path.name}.partial-{uuid.uuid4().hex[:8]}"
        try:
            self._tmpdir.mkdir()
            plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
            self._writer = Writer(
                self._tmpdir / self.path.name, version=BAG_VERSION, storage_plugin=plugin
            )
            self._writer.open()
        except (OSError, WriterError) as exc:
            self._discard()
            raise BagError(f"cannot create bag {self.path}: {exc}") from exc
        except BaseException:  # Ctrl-C or SIGTERM while opening: __exit__ will not run
            self._discard()
            raise
        return self

    def write(
        self,
        topic: str,
        msgtype: str,
        message: object,
        stamp: int,
        definition: tuple[str, str] | None = None,
    ) -> None:
        """Write one message (a rosbags message object, or its CDR bytes) at ``stamp`` ns.

        Args:
            topic: the topic.
            msgtype: its type, e.g. ``sensor_msgs/msg/Image``.
            message: a rosbags message, or CDR bytes.
            stamp: receive time, ns.
            definition: (message definition, RIHS01 hash) as another bag stores them
                (``BagReader.definition``), for a type the Jazzy store does not know:
                copying a custom type's bytes needs it.

        Raises:
            BagError: not open, a topic written with two types, or a type with no
                definition known.
        """
        if self._writer is None:
            raise BagError(f"bag {self.path} is not open for writing")
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._add_connection(topic, msgtype, definition)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"{self.path}: topic {topic} is {conn.msgtype}, not {msgtype}")
        data = message if isinstance(message, (bytes, memoryview)) else None
        if data is None:
            data = typestore().serialize_cdr(message, msgtype)
        self._writer.write(conn, stamp, bytes(data))
        self.message_count += 1

    def _add_connection(
        self, topic: str, msgtype: str, definition: tuple[str, str] | None
    ) -> Connection:
        assert self._writer is not None
        qos = _default_qos()
        if definition is not None and definition[0] and definition[1]:
            msgdef, digest = definition
            return self._writer.add_connection(
                topic, msgtype, msgdef=msgdef, rihs01=digest, offered_qos_profiles=qos
            )
        if msgtype not in typestore().fielddefs:
            raise BagError(
                f"{self.path}: cannot write {msgtype} on {topic}: not a ROS 2 Jazzy type and "
                "no message definition given"
            )
        return self._writer.add_connection(
            topic, msgtype, typestore=typestore(), offered_qos_profiles=qos
        )

    def write_frame(self, frame: StereoBagFrame) -> None:
        """Write every message of one stereo frame with the frame's stamp."""
        for topic, msgtype, msg in frame.messages():
            self.write(topic, msgtype, msg, frame.stamp)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
            return
        assert self._writer is not None
        assert self._tmpdir is not None
        try:
            self._writer.close()
            self._writer = None
            refuse_existing(self.path, BagError)
            (self._tmpdir / self.path.name).rename(self.path)
        except BaseException:
            self._discard()
            raise
        self._tmpdir.rmdir()
        self._tmpdir = None
        LOG.info("wrote %s (%d messages, %s)", self.path, self.message_count, self.storage)

    def _discard(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.abort()
            except Exception:  # the storage may already be broken; the directory goes anyway
                LOG.debug("aborting %s failed", self.path, exc_info=True)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def write_stereo_bag(
    path: str | Path, frames: Iterable[StereoBagFrame], storage: str = "sqlite3"
) -> int:
    """Write ``frames`` as a new bag at ``path``; returns the number of frames."""
    count = 0
    with BagWriter(path, storage) as writer:
        for frame in frames:
            writer.write_frame(frame)
            count += 1
        if count == 0:
            raise BagError(f"no frames to write to {path}")
    return count


@dataclass(frozen=True)
class BagMessage:
    """One serialized message as stored: topic, type, receive stamp (ns), CDR bytes."""

    topic: str
    msgtype: str
    timestamp: int
    data: bytes


class BagReader:
    """Reads a rosbag2 (sqlite3 or mcap, any version rosbags reads); a context manager.

    Every failure (missing, half-written, truncated or corrupted bag, bad message bytes)
    raises ``BagError`` naming the bag, and the topic and stamp where one is at fault.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: Reader | None = None
        self._typestore: Typestore | None = None

    def __enter__(self) -> BagReader:
        from rosbags.rosbag2 import Reader

        if not self.path.exists():
            raise BagError(f"no bag at {self.path}")
        if not self.path.is_dir():
            raise BagError(f"{self.path} is not a rosbag2 directory")
        if not (self.path / "metadata.yaml").is_file():
            raise BagError(
                f"{self.path} has no metadata.yaml: not a rosbag2, or one never finished writing"
            )
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as exc:  # rosbags, sqlite (apsw) and mcap parsers raise many kinds
            from ladderseg_ros.fileio import one_line

            cause = exc.__cause__ if exc.__cause__ is not None else exc
            raise BagError(f"cannot open bag {self.path}: {one_line(cause)}") from exc
        self._reader = reader
        self._typestore = bag_typestore(self.path, reader.connections)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            try:
                reader.close()
            except Exception:
                LOG.debug("closing %s failed", self.path, exc_info=True)

    @property
    def reader(self) -> Reader:
        """The open rosbags reader.

        Raises:
            BagError: The bag is not open.
        """
        if self._reader is None:
            raise BagError(f"bag {self.path} is not open")
        return self._reader

    @property
    def topics(self) -> dict[str, str]:
        """Message type by topic."""
        return {conn.topic: conn.msgtype for conn in self.reader.connections}

    def knows(self, msgtype: str) -> bool:
        """Whether messages of ``msgtype`` decode: a Jazzy type or one the bag defines."""
        return self._typestore is not None and msgtype in self._typestore.fielddefs

    def definition(self, topic: str) -> tuple[str, str] | None:
        """(message definition, RIHS01 hash) the bag stores for ``topic``, if any."""
        for conn in self.reader.connections:
            if conn.topic == topic and conn.msgdef.data and conn.digest:
                return conn.msgdef.data, conn.digest
        return None

    def declared_counts(self) -> dict[str, int]:
        """Messages per topic as the bag's metadata declares them."""
        counts: dict[str, int] = {}
        for conn in self.reader.connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + int(conn.msgcount)
        return counts

    @property
    def message_count(self) -> int:
        """Messages in the bag."""
        return int(self.reader.message_count)

    @property
    def start_time(self) -> int:
        """Earliest receive stamp (ns)."""
        return int(self.reader.start_time)

    @property
    def duration(self) -> int:
        """Span of the receive stamps (ns) plus one: rosbags counts last - first + 1."""
        return int(self.reader.duration)

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Serialized messages in stamp order, optionally of ``topics`` only.

        Raises:
            BagError: A requested topic is absent, or the storage is damaged mid-way.
        """
        conns = self.reader.connections
        if topics is not None:
            wanted = set(topics)
            missing = wanted - {c.topic for c in conns}
            if missing:
                raise BagError(
                    f"{self.path} has no topic {sorted(missing)}; it has {sorted(self.topics)}"
                )
            conns = [c for c in conns if c.topic in wanted]
        iterator = self.reader.messages(connections=conns)
        while True:
            try:
                conn, timestamp, data = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise BagError(f"bag {self.path} is damaged: {exc}") from exc
            yield BagMessage(conn.topic, conn.msgtype, int(timestamp), bytes(data))

    def deserialize(self, message: BagMessage) -> Any:  # noqa: ANN401 - a message of its msgtype
        """The rosbags message object of ``message``.

        Raises:
            BagError: Unknown type or bytes that do not decode (names topic and stamp).
        """
        store = self._typestore if self._typestore is not None else typestore()
        if message.msgtype not in store.fielddefs:
            raise BagError(
                f"{self.path}: cannot decode {message.msgtype} on {message.topic}: not a ROS 2 "
                "Jazzy type, and the bag stores no definition of it"
            )
        try:
            return store.deserialize_cdr(message.data, message.msgtype)
        except Exception as exc:
            raise BagError(
                f"{self.path}: cannot decode {message.msgtype} on {message.topic} at "
                f"{message.timestamp} ns: {exc!r}"
            ) from exc


@dataclass
class BagCheck:
    """What ``check_bag`` found.

    Attributes:
        counts: messages read per topic (every one decoded, except ``undecoded`` topics').
        undecoded: topic -> type, for types neither ROS 2 Jazzy nor the bag defines: their
            messages were read (counted) but could not be decoded.
    """

    counts: dict[str, int]
    undecoded: dict[str, str]


def check_bag(path: str | Path) -> BagCheck:
    """Read and decode every message of a bag, and count them against its metadata.

    Messages of custom types decode with the definitions the bag stores; types nobody
    defines are read and counted, and listed as not decoded.

    Raises:
        BagError: The bag is incomplete, damaged, holds a message that does not decode, or
            its storage holds a different number of messages than its metadata declares
            (rows deleted, a truncated file): names the topics and both counts.
    """
    counts: dict[str, int] = {}
    undecoded: dict[str, str] = {}
    with BagReader(path) as bag:
        for message in bag.messages():
            if bag.knows(message.msgtype):
                bag.deserialize(message)
            else:
                undecoded[message.topic] = message.msgtype
            counts[message.topic] = counts.get(message.topic, 0) + 1
        declared = bag.declared_counts()
    wrong = [
        f"{topic} {declared.get(topic, 0)} declared, {counts.get(topic, 0)} stored"
        for topic in sorted(set(declared) | set(counts))
        if declared.get(topic, 0) != counts.get(topic, 0)
    ]
    if wrong:
        raise BagError(
            f"{path}: its storage does not hold what its metadata declares "
            f"({sum(declared.values())} messages declared, {sum(counts.values())} stored: "
            f"{'; '.join(wrong)})"
        )
    return BagCheck(counts, undecoded)
